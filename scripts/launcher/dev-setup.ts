// What `npm start` prepares on a developer's machine before the stack starts: redis-server installed, a
// random identity secret kept in the data dir, and a dev API key that survives restarts.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ALL_SCOPES } from '#libs/contracts';
import { ApiKeyStore } from '#libs/auth';
import { findRedisServer } from '#libs/local-stack';
import { createRedis, quitRedis, waitForRedisReady } from '#libs/redis';

export type Say = (msg: string) => void;
export type Fail = (msg: string) => never;

export function ensureRedisServer(say: Say, fail: Fail): void {
  if (findRedisServer()) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root)
    fail('redis-server is not installed. Run: sudo apt-get install -y redis-server   (then npm start again)');
  say('redis-server is missing: installing it with apt-get (running as root)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', 'redis-server'], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', 'redis-server'], { stdio: 'inherit', env });
  }
  if (r.status !== 0 || !findRedisServer())
    fail('apt-get install -y redis-server failed; install it and run npm start again');
}

/** A random secret kept in the data dir, so restarts keep signed identities and nothing is a default. */
export function persistentSecret(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}

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
