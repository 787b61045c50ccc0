import { readFileSync } from 'node:fs';
import { chmod, chown, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TaskError } from '#libs/task-sdk';
import type { CommandTaskUserSettings } from '../../runner/ipc-protocol.js';

/** Who a command task runs as when the worker runs as root. */
export interface TaskUser {
  uid: number;
  gid: number;
  name: string;
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
  return { uid, gid: entry.gid, name };
}

/** Hands a directory tree to the task user, private to it (0700 dirs, 0600 files). */
export async function giveTree(path: string, user: TaskUser): Promise<void> {
  await chown(path, user.uid, user.gid);
  await chmod(path, 0o700);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) await giveTree(p, user);
    else if (entry.isFile()) {
      await chown(p, user.uid, user.gid);
      await chmod(p, 0o600);
    }
  }
}

/** Lets the task user read one file the runner wrote (and nobody else). */
export async function giveFile(path: string, user: TaskUser): Promise<void> {
  await chown(path, user.uid, user.gid);
  await chmod(path, 0o400);
}
