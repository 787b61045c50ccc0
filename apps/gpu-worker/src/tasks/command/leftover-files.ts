import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { TaskError } from '#libs/task-sdk';
import type { TaskUser } from './task-user.js';

/**
 * Places any uid may write (world-writable, sticky) that outlive an attempt: what the task uid leaves there
 * would be read (or loaded: a library path, a config) by the actor's next attempt, maybe another tenant's,
 * running as the same uid. /dev/mqueue holds POSIX message queues where it is mounted. Missing ones are skipped.
 */
export const WORLD_WRITABLE_PLACES = ['/tmp', '/var/tmp', '/dev/shm', '/dev/mqueue', '/run/lock'];

/** Entries the cleanup may look at (removed or walked through) before it gives up. */
export const MAX_CLEAN_ENTRIES = 100_000;
/** How long the cleanup may take before it gives up. */
export const CLEAN_TIMEOUT_MS = 15_000;

/** The fixed places plus the worker's TMPDIR, once each. */
export function worldWritablePlaces(): string[] {
  return [...new Set([...WORLD_WRITABLE_PLACES, resolve(tmpdir())])];
}

/**
 * Run as the task uid itself (so it can remove only what that uid may remove, and a link swapped in by another
 * uid can never lead it into root's files): in each place, removes every entry the uid owns, whole trees
 * (depth-first, own folders made 0700 first, links unlinked, never followed), and walks on through folders
 * it does not own but may write (a world-writable folder inside /tmp). Paths in `keep` (the attempt's own
 * folders) are left alone. Then removes the System V IPC objects (shared memory, queues, semaphores) the uid owns or
 * created, with ipcrm (/proc/sysvipc lists them). Iterative (no stack to overflow); exits 3 past MAX entries or on an entry it cannot
 * remove, naming it on stderr.
 */
const CLEANER = String.raw`
const fs = require('node:fs');
const { join } = require('node:path');
const [max, keepJson, ...places] = process.argv.slice(1);
const keep = new Set(JSON.parse(keepJson));
const uid = process.getuid();
let seen = 0;
const fail = (msg) => { process.stderr.write(msg); process.exit(3); };
const lstat = (p) => { try { return fs.lstatSync(p); } catch (e) { if (e.code === 'ENOENT') return undefined; throw e; } };
// names of a folder, a few at a time: the folder changes as its entries go
function names(p, n) {
  const d = fs.opendirSync(p);
  const out = [];
  try { for (let e; out.length < n && (e = d.readSync()); ) out.push(e.name); } finally { d.closeSync(); }
  return out;
}
const count = () => { if (++seen > Number(max)) fail('more than ' + max + ' entries'); };
function removeTree(root) {
  const stack = [root];
  while (stack.length) {
    const p = stack[stack.length - 1];
    const st = lstat(p);
    if (!st) { stack.pop(); continue; }
    if (!st.isDirectory()) { fs.unlinkSync(p); stack.pop(); continue; }
    if (st.uid === uid && (st.mode & 0o700) !== 0o700) fs.chmodSync(p, 0o700);
    const batch = names(p, 256);
    if (batch.length === 0) { fs.rmdirSync(p); stack.pop(); continue; }
    for (const n of batch) { count(); stack.push(join(p, n)); }
  }
}
function writable(p) { try { fs.accessSync(p, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK); return true; } catch { return false; } }
try {
  const queue = places.filter((p) => lstat(p)?.isDirectory());
  while (queue.length) {
    const dir = queue.shift();
    const batch = [];
    const d = fs.opendirSync(dir);
    try { for (let e; (e = d.readSync()); ) { count(); batch.push(join(dir, e.name)); } } finally { d.closeSync(); }
    for (const p of batch) {
      if (keep.has(p)) continue;
      const st = lstat(p);
      if (!st) continue;
      if (st.uid === uid) removeTree(p);
      else if (st.isDirectory() && writable(p)) queue.push(p);
    }
  }
  // System V shared memory, queues and semaphores it owns or made (the worker shares its IPC namespace)
  const ipcrm = ['/usr/bin/ipcrm', '/bin/ipcrm'].find((p) => fs.existsSync(p));
  for (const [kind, flag] of [['shm', '-m'], ['msg', '-q'], ['sem', '-s']]) {
    let text;
    try { text = fs.readFileSync('/proc/sysvipc/' + kind, 'utf8'); } catch { continue; }
    const [head, ...rows] = text.trim().split('\n').map((l) => l.trim().split(/\s+/));
    const u = head.indexOf('uid'), c = head.indexOf('cuid');
    for (const r of rows) {
      count();
      if (Number(r[u]) !== uid && Number(r[c]) !== uid) continue;
      if (!ipcrm) fail('System V ' + kind + ' ' + r[1] + ' is left and there is no ipcrm');
      require('node:child_process').execFileSync(ipcrm, [flag, r[1]], { stdio: 'ignore' });
    }
  }
} catch (e) { fail(String(e && e.message || e)); }
`;

/**
 * Removes what the task user's uid left in the world-writable places (and the worker's TMPDIR), so the actor's
 * next attempt, maybe another tenant's, finds none of it. Call while no process of the uid lives (after
 * endProcessesOf). Bounded in entries and time; a cleanup that cannot finish fails the attempt, retryable, as a
 * process that will not die does. Only for a dedicated uid (a shared one also runs other actors' commands).
 */
export async function removeFilesOf(
  user: TaskUser,
  opts: { places?: string[]; keep?: string[]; maxEntries?: number; timeoutMs?: number } = {},
): Promise<void> {
  if (!user.dedicated) return;
  const places = opts.places ?? worldWritablePlaces();
  const keep = (opts.keep ?? []).map((p) => resolve(p));
  const timeoutMs = opts.timeoutMs ?? CLEAN_TIMEOUT_MS;
  const failure = await new Promise<string | undefined>((done) => {
    const child = spawn(
      process.execPath,
      ['-e', CLEANER, String(opts.maxEntries ?? MAX_CLEAN_ENTRIES), JSON.stringify(keep), ...places],
      // no environment: nothing of the worker's reaches a process of the task uid
      { uid: user.uid, gid: user.gid, env: {}, cwd: '/', stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 2000) stderr += b.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      done(e.message);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) done(undefined);
      else if (signal === 'SIGKILL') done(`took longer than ${timeoutMs} ms`);
      else done(stderr.trim().slice(0, 1000) || `cleanup exited with ${signal ?? `code ${code}`}`);
    });
  });
  if (failure !== undefined)
    throw new TaskError(
      'TASK_FAILED',
      `files of the command task user (uid ${user.uid}) in ${places.join(', ')} could not be removed: ${failure}`,
      { retryable: true },
    );
}
