import {
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * Command-task uids for this test run. A worker running as root ends every process of its actors' uids and
 * removes their files before and after each command (apps/gpu-worker/src/tasks/command/README.md): two test
 * runs as root on one machine (two CI clones, two sessions) with the production default (61000 + slot) would
 * kill each other's commands. So specs and the workers they start take COMMAND_TASK_UID_BASE from here: a
 * block of UIDS_PER_RUN uids that no other live test process holds, with no passwd entry and no process
 * running as any of them. The production default is untouched.
 */
export const UIDS_PER_RUN = 64;

// Far above login uids, container subuid ranges (100000 + 65536 n) and 61000/65534; below 2^31 (node's
// spawn takes an int32 uid). Block k is FIRST_UID + k × UIDS_PER_RUN.
const FIRST_UID = 1_900_000_000;
const BLOCKS = 4_096;
/**
 * One file per held block, holding its holder's pid: shared by every checkout on the machine, one directory per
 * user. Only root's runs switch command tasks to these uids, and they all meet in root's directory; another user's
 * runs neither need root's locks nor could write there (nor could another user plant links in root's: see
 * ownLockDir).
 */
// a fixed path, not $TMPDIR: every run on the machine must meet here
export const testUidLockDir = (): string => `/tmp/switchyard-test-uids-${process.getuid?.() ?? 'user'}`;

const cache = globalThis as { __switchyardCommandTaskUidBase?: number; __switchyardUidLocks?: Set<string> };

/**
 * COMMAND_TASK_UID_BASE for this process's command tasks: the first of UIDS_PER_RUN uids reserved to this
 * process (the same block for every spec file a jest worker runs). Reserved by a lock file that names the
 * process; a block whose holder died is taken over.
 */
export function testCommandTaskUidBase(): number {
  cache.__switchyardCommandTaskUidBase ??= claimUidBlock({
    lockDir: testUidLockDir(),
    pid: process.pid,
    inUse: uidsInUse(),
  });
  return cache.__switchyardCommandTaskUidBase;
}

/**
 * The first uid of a block that `pid` holds in `lockDir` from now on: the block it already holds, or the
 * first one from `pid`'s own starting block on whose holder is dead or missing and of whose uids none is in
 * `inUse`. Exported for its spec (a lock directory of its own).
 */
export function claimUidBlock(o: { lockDir: string; pid: number; inUse: Set<number> }): number {
  ownLockDir(o.lockDir);
  const start = o.pid % BLOCKS;
  for (let i = 0; i < BLOCKS; i++) {
    const base = FIRST_UID + ((start + i) % BLOCKS) * UIDS_PER_RUN;
    if (claim(join(o.lockDir, String(base)), base, o)) return base;
  }
  throw new Error(`no free block of ${UIDS_PER_RUN} command-task uids for tests (${o.lockDir} full?)`);
}

/**
 * Makes `dir` when missing and checks it is this user's own directory that no one else may write: root writes and
 * links files in it, so a directory another user made (or a link to one) could redirect those writes.
 */
function ownLockDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0)
    throw new Error(
      `${dir}: not a directory of this user's that only this user can write; remove it (command-task uid locks)`,
    );
}

function claim(lock: string, base: number, o: { pid: number; inUse: Set<number> }): boolean {
  const holder = holderOf(lock);
  if (holder === o.pid) return true; // an earlier spec file of this process
  if (holder !== undefined && (alive(holder) || !removeDeadLock(lock, holder))) return false;
  for (let uid = base; uid < base + UIDS_PER_RUN; uid++) if (o.inUse.has(uid)) return false;
  // written aside, then linked in: the lock appears whole (link fails when it exists), never empty
  const mine = `${lock}.${o.pid}`;
  writeFileSync(mine, String(o.pid), { mode: 0o644 });
  try {
    linkSync(mine, lock);
  } catch {
    return false; // another process claimed it meanwhile
  } finally {
    unlinkSync(mine);
  }
  if (o.pid !== process.pid) return true;
  // released when the spec file is done (libs/testing/process-reaping-environment.js), or at exit outside jest
  (cache.__switchyardUidLocks ??= new Set()).add(lock);
  process.once('exit', () => {
    try {
      if (holderOf(lock) === process.pid) unlinkSync(lock);
    } catch {
      // already gone
    }
  });
  return true;
}

/**
 * Removes the lock of a dead holder, unless another process is taking the block over: only the one that links the
 * lock to `<lock>.dead-<holder>` first may remove it (a plain unlink could remove the lock another process had
 * just taken over, and both would hold the block). A late one, whose link finds a lock already taken over, reads
 * the new holder in it and leaves it. Exported for its spec.
 */
export function removeDeadLock(lock: string, holder: number): boolean {
  const tomb = `${lock}.dead-${holder}`;
  try {
    linkSync(lock, tomb);
  } catch {
    return false; // another process is taking it over, or has
  }
  try {
    if (holderOf(tomb) !== holder) return false; // taken over and held again since we read it
    unlinkSync(lock);
    return true;
  } finally {
    unlinkSync(tomb);
  }
}

function holderOf(lock: string): number | undefined {
  try {
    const pid = Number(readFileSync(lock, 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : 0; // 0: not a pid, treated as a dead holder
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  if (pid === 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every uid of a passwd entry or of a running process (real, effective, saved or filesystem uid). */
export function uidsInUse(): Set<number> {
  const uids = new Set<number>();
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const uid = line.split(':')[2];
    if (uid) uids.add(Number(uid));
  }
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const line = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1] ?? '';
      for (const uid of line.split(/\s+/)) if (uid) uids.add(Number(uid));
    } catch {
      // ended meanwhile
    }
  }
  return uids;
}

/** The environment that gives a worker or a task-running child started by a spec this run's uids. */
export function testCommandTaskEnv(): { COMMAND_TASK_UID_BASE: string } {
  return { COMMAND_TASK_UID_BASE: String(testCommandTaskUidBase()) };
}
