import { spawn } from 'node:child_process';
import { constants, readFileSync } from 'node:fs';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TaskError } from '#libs/task-sdk';
import type { CommandTaskUserSettings } from '../../runner/ipc-protocol.js';

/** Who a command task runs as when the worker runs as root. */
export interface TaskUser {
  uid: number;
  gid: number;
  name: string;
  /** The uid is this actor's alone (COMMAND_TASK_UID_BASE > 0): its processes are this attempt's to end. */
  dedicated?: boolean;
}

/** Default first uid of command tasks: actor n's commands run as 61000 + n (uids without a login). */
export const DEFAULT_COMMAND_TASK_UID_BASE = 61_000;

/** The worker's defaults (COMMAND_TASK_USER, COMMAND_TASK_UID_BASE), slot 0. */
export const DEFAULT_COMMAND_TASK_USER: CommandTaskUserSettings = {
  user: 'nobody',
  uidBase: DEFAULT_COMMAND_TASK_UID_BASE,
  slot: 0,
};

function passwdEntry(name: string): { uid: number; gid: number } | undefined {
  if (/^\d+$/.test(name)) return { uid: Number(name), gid: Number(name) };
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid && gid) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/**
 * The unprivileged identity of this runner's command tasks, or undefined when the runner does not run
 * as root (it cannot switch users, and is not privileged anyway). COMMAND_TASK_USER (default `nobody`)
 * gives the group (and the uid when COMMAND_TASK_UID_BASE is 0); COMMAND_TASK_UID_BASE (default 61000)
 * plus the actor's slot gives each actor's commands their own uid, so two attempts running at the same
 * time can never read each other's files or /proc entries.
 */
export function commandTaskUser(
  s: CommandTaskUserSettings = DEFAULT_COMMAND_TASK_USER,
): TaskUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const name = s.user;
  const entry = passwdEntry(name);
  if (!entry)
    throw new TaskError('TASK_FAILED', `COMMAND_TASK_USER "${name}" is not a user of this machine`, {
      retryable: false,
    });
  const uid = s.uidBase > 0 ? s.uidBase + s.slot : entry.uid;
  if (uid === 0)
    throw new TaskError('TASK_FAILED', 'command tasks may not run as root', { retryable: false });
  return { uid, gid: entry.gid, name, dedicated: s.uidBase > 0 };
}

/**
 * Hands a directory tree the runner made to the task user, private to it (0700 dirs, 0600 files): the contents
 * before their directory (nothing the task user can already write is walked), each through a handle opened
 * without following a link, so a link swapped in under a name never redirects root's chown or chmod.
 */
export async function giveTree(path: string, user: TaskUser): Promise<void> {
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) await giveTree(p, user);
    else if (entry.isFile()) await give(p, user, 0o600);
  }
  await give(path, user, 0o700);
}

/** Lets the task user read one file the runner wrote (and nobody else). */
export async function giveFile(path: string, user: TaskUser): Promise<void> {
  await give(path, user, 0o400);
}

async function give(path: string, user: TaskUser, mode: number): Promise<void> {
  // O_NONBLOCK: a fifo put in its place must not block the open
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    await handle.chown(user.uid, user.gid);
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
}

/** How long processes of the task user may take to die once killed (one in the kernel ends its call first). */
const END_WAIT_MS = 2_000;

/**
 * Ends every process of the task user's uid, wherever it runs (its command's group, or one that left it:
 * setsid, a double fork): nothing a command started may outlive its attempt, since the actor's next attempt,
 * maybe another tenant's, runs as the same uid. kill(-1) sent as that uid reaches exactly the processes of
 * that uid (never the sender). Called before a command starts (a leftover of a runner that died) and after it
 * exits, before its outputs are read. Throws when one is still alive after END_WAIT_MS. Only for a dedicated uid.
 */
export async function endProcessesOf(user: TaskUser): Promise<void> {
  // a uid shared by every actor (COMMAND_TASK_UID_BASE=0) also runs the other actors' commands
  if (!user.dedicated) return;
  await new Promise<void>((resolve) => {
    const kill = spawn('/bin/sh', ['-c', 'kill -KILL -1 2>/dev/null; exit 0'], {
      uid: user.uid,
      gid: user.gid,
      stdio: 'ignore',
    });
    kill.once('error', () => resolve()); // judged by the processes left, below
    kill.once('exit', () => resolve());
  });
  const deadline = Date.now() + END_WAIT_MS;
  for (;;) {
    const alive = await livingProcessesOf(user.uid);
    if (alive.length === 0) return;
    if (Date.now() > deadline)
      throw new TaskError(
        'TASK_FAILED',
        `processes of the command task user (uid ${user.uid}) did not end: ${alive.slice(0, 10).join(', ')}`,
        { retryable: true },
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Pids of the processes whose real uid is `uid`, zombies left out (they run nothing; their parent reaps them). */
async function livingProcessesOf(uid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = await readFile(`/proc/${name}/status`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const realUid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    if (Number(realUid) === uid && state !== 'Z' && state !== 'X') pids.push(Number(name));
  }
  return pids;
}
