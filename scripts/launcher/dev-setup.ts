// What `npm start` (and `npm test`) prepare on a developer's machine: the Debian packages they need installed,
// and for the stack a random identity secret kept in the data dir (the dev API key is in dev-api-key.ts).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { findRedisServer } from '#libs/local-stack';

export type Say = (msg: string) => void;
export type Fail = (msg: string) => never;

export function ensureRedisServer(say: Say, fail: Fail): void {
  ensureDebianPackage(
    { pkg: 'redis-server', installed: () => findRedisServer() !== null, then: 'npm start' },
    say,
    fail,
  );
}

export interface DebianPackage {
  /** The apt package that provides it. */
  pkg: string;
  installed: () => boolean;
  /** The command to run again once it is installed (named in the messages). */
  then: string;
}

/**
 * Installs a Debian package the stack or the tests need when it is missing: with apt-get when running as root
 * (as `.ci/run` and a fresh container do), else fails at once with the command to run, instead of letting
 * every test or app fail later with a less clear message.
 */
export function ensureDebianPackage({ pkg, installed, then }: DebianPackage, say: Say, fail: Fail): void {
  if (installed()) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) fail(`${pkg} is not installed. Run: sudo apt-get install -y ${pkg}   (then ${then} again)`);
  say(`${pkg} is missing: installing it with apt-get (running as root)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', pkg], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', pkg], { stdio: 'inherit', env });
  }
  if (r.status !== 0 || !installed())
    fail(`apt-get install -y ${pkg} failed; install it and run ${then} again`);
}

/** A random secret kept in the data dir, so restarts keep signed identities and nothing is a default. */
export function persistentSecret(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}
