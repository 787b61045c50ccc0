// The dev API key `npm start` prints: kept in the data dir and in Redis, so it survives restarts. Its own
// module because it loads ioredis and the auth library: the launcher imports it once Redis is up, while
// the apps boot, instead of before anything starts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ALL_SCOPES } from '#libs/contracts';
import { ApiKeyStore } from '#libs/auth';
import { createRedis, quitRedis, waitForRedisReady } from '#libs/redis';

export async function devApiKey(redisUrl: string, file: string): Promise<string> {
  const redis = createRedis({
    url: redisUrl,
    name: 'launcher',
    role: 'command',
    logger: { info() {}, warn() {}, error() {} },
  });
  try {
    await waitForRedisReady(redis);
    const keys = new ApiKeyStore(redis);
    if (existsSync(file)) {
      const existing = readFileSync(file, 'utf8').trim();
      const ok = await keys.verify(existing).then(
        () => true,
        () => false,
      );
      if (ok) return existing;
    }
    const { key } = await keys.create({ tenant: 'dev', scopes: [...ALL_SCOPES], name: 'dev (npm start)' });
    writeFileSync(file, key, { mode: 0o600 });
    return key;
  } finally {
    await quitRedis(redis);
  }
}
