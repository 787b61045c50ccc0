import { spawn } from 'node:child_process';
import { chmodSync, existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  claimUidBlock,
  removeDeadLock,
  testCommandTaskUidBase,
  testUidLockDir,
  UIDS_PER_RUN,
  uidsInUse,
} from './command-task-uids.js';
import { tempDir } from './processes.js';

// Command-task uids of a test run: never the production 61000, never another live run's, never a uid that
// has a passwd entry or a running process (two root test runs on one machine must not kill each other's commands).
describe('command-task uids for tests', () => {
  it("are this process's block: not 61000, no passwd entry, no process, the same on every call", () => {
    const base = testCommandTaskUidBase();
    expect(base).not.toBe(61_000);
    expect(base + UIDS_PER_RUN).toBeLessThan(2 ** 31); // node's spawn takes an int32 uid
    const inUse = uidsInUse();
    for (let uid = base; uid < base + UIDS_PER_RUN; uid++) expect(inUse.has(uid)).toBe(false);
    expect(readFileSync(join(testUidLockDir(), String(base)), 'utf8')).toBe(String(process.pid));
    expect(testCommandTaskUidBase()).toBe(base);
  });

  it('give two live processes different blocks, the same one to a process that asks again', async () => {
    const lockDir = tempDir('uid-locks');
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pid = other.pid!;
      // both start their search at the same block: the second must go past the first's
      const a = claimUidBlock({ lockDir, pid, inUse: new Set() });
      const b = claimUidBlock({ lockDir, pid: pid + 4_096, inUse: new Set() });
      expect(b).not.toBe(a);
      expect(Math.abs(b - a)).toBeGreaterThanOrEqual(UIDS_PER_RUN);
      expect(claimUidBlock({ lockDir, pid, inUse: new Set() })).toBe(a);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('take over a block whose holder died, skip one of whose uids is in use', async () => {
    const lockDir = tempDir('uid-locks');
    const dead = spawn('true', { stdio: 'ignore' });
    await new Promise((r) => dead.once('exit', r));
    const a = claimUidBlock({ lockDir, pid: dead.pid!, inUse: new Set() });
    // a claimer that starts its search at the same block (pids equal modulo the number of blocks)
    const next = dead.pid! + 4_096;
    expect(claimUidBlock({ lockDir, pid: next, inUse: new Set() })).toBe(a);
    expect(readFileSync(join(lockDir, String(a)), 'utf8')).toBe(String(next));
    writeFileSync(join(lockDir, String(a)), 'not a pid'); // a holder that cannot be alive
    const skipped = claimUidBlock({ lockDir, pid: dead.pid!, inUse: new Set([a + 5]) });
    expect(skipped).not.toBe(a);
    expect(readFileSync(join(lockDir, String(skipped)), 'utf8')).toBe(String(dead.pid));
  });

  it("let one process only take over a dead holder's block: a late one leaves the new holder's lock", async () => {
    const lockDir = tempDir('uid-locks');
    const dead = spawn('true', { stdio: 'ignore' });
    await new Promise((r) => dead.once('exit', r));
    const a = claimUidBlock({ lockDir, pid: dead.pid!, inUse: new Set() });
    const lock = join(lockDir, String(a));
    // another process mid-takeover (its link in place): this one backs off, the dead holder's lock stays
    linkSync(lock, `${lock}.dead-${dead.pid!}`);
    expect(removeDeadLock(lock, dead.pid!)).toBe(false);
    expect(readFileSync(lock, 'utf8')).toBe(String(dead.pid));
    unlinkSync(`${lock}.dead-${dead.pid!}`);
    // a process takes the block over...
    const first = dead.pid! + 4_096;
    expect(claimUidBlock({ lockDir, pid: first, inUse: new Set() })).toBe(a);
    // ...and one that read the dead holder before it did comes late: the new holder keeps its lock
    expect(removeDeadLock(lock, dead.pid!)).toBe(false);
    expect(readFileSync(lock, 'utf8')).toBe(String(first));
    expect(existsSync(`${lock}.dead-${dead.pid!}`)).toBe(false);
  });

  it("refuse a lock directory that others may write (its files and links would steer root's writes)", () => {
    const lockDir = tempDir('uid-locks');
    chmodSync(lockDir, 0o777);
    expect(() => claimUidBlock({ lockDir, pid: process.pid, inUse: new Set() })).toThrow(
      /only this user can write/,
    );
    chmodSync(lockDir, 0o755);
    expect(claimUidBlock({ lockDir, pid: process.pid, inUse: new Set() })).toBeGreaterThan(61_000);
  });

  it("keep each user's locks apart: root's runs, the only ones that switch uids, meet in root's directory", () => {
    expect(testUidLockDir()).toMatch(new RegExp(`switchyard-test-uids-${process.getuid!()}$`));
  });
});
