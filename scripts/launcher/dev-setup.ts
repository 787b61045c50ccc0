// What `npm start` prepares on a developer's machine before the stack starts: redis-server installed and a
// random identity secret kept in the data dir (the dev API key is in dev-api-key.ts).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { findRedisServer } from '#libs/local-stack';

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
