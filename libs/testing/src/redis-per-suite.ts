import { Redis } from 'ioredis';
import { startRedis, type RedisHandle } from './processes.js';

export interface SuiteRedis {
  /** The redis-server process (to SIGKILL and restart it in fault tests). */
  readonly server: RedisHandle;
  readonly url: string;
  /** A connection for the test's own reads and writes. */
  readonly client: Redis;
}

/**
 * One real redis-server for the describe block this is called in: started before its first test, emptied
 * (FLUSHALL) before each, stopped after the last. It registers those jest hooks itself, so call it before the
 * block's own beforeEach (which then finds Redis empty), and read the fields inside hooks and tests.
 */
export function redisPerSuite(): SuiteRedis {
  let server: RedisHandle | undefined;
  let client: Redis | undefined;
  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url);
  });
  afterAll(async () => {
    await client?.quit();
    await server?.stop();
  });
  beforeEach(async () => {
    await client!.flushall();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('redisPerSuite: read its fields inside hooks and tests');
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    get url() {
      return started(server).url;
    },
    get client() {
      return started(client);
    },
  };
}
