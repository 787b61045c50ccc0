// Run by `npm test` before jest: the tests start real redis-server processes and drive Debian's chromium, so
// both are installed first (with apt-get when root, as `npm start` does for Redis), or the run stops at once
// with the command to run.
import { existsSync } from 'node:fs';
import { findRedisServer } from '#libs/local-stack';
import { ensureDebianPackage } from './launcher/dev-setup.js';

const say = (msg: string) => process.stdout.write(`[switchyard test] ${msg}\n`);
const fail = (msg: string): never => {
  process.stderr.write(`[switchyard test] ${msg}\n`);
  process.exit(1);
};
// The console's browser tests launch this path (test/e2e/console/browser.ts reads the same variable).
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

ensureDebianPackage(
  { pkg: 'redis-server', installed: () => findRedisServer() !== null, then: 'npm test' },
  say,
  fail,
);
ensureDebianPackage({ pkg: 'chromium', installed: () => existsSync(chromium), then: 'npm test' }, say, fail);
