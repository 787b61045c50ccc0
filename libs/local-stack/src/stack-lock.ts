import { existsSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * `<data dir>/stack.json`: who runs the stack on this data dir (the launcher's pid and its children's), so a
 * second `npm start` on the same dir can tell a running stack (refuse, print how to stop it) from one whose
 * launcher died (stop what is left).
 */
const StackFile = z.object({
  launcherPid: z.number().int().positive(),
  startedAt: z.string(),
  children: z.array(z.object({ name: z.string(), pid: z.number().int().positive() })),
});
export type StackFile = z.infer<typeof StackFile>;

export const stackFilePath = (dataDir: string): string => join(dataDir, 'stack.json');

export function readStackFile(dataDir: string): StackFile | null {
  const path = stackFilePath(dataDir);
  if (!existsSync(path)) return null;
  try {
    return StackFile.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return null; // torn or foreign: nothing in it can be trusted, so nothing in it is acted upon
  }
}

export function writeStackFile(dataDir: string, file: StackFile): void {
  const path = stackFilePath(dataDir);
  writeFileSync(`${path}.tmp`, JSON.stringify(file, null, 2));
  renameSync(`${path}.tmp`, path); // readers never see half a file
}

export function removeStackFile(dataDir: string): void {
  rmSync(stackFilePath(dataDir), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const readProc = (pid: number, what: 'cmdline' | 'environ'): string => {
  try {
    return readFileSync(`/proc/${pid}/${what}`, 'utf8');
  } catch {
    return '';
  }
};

/** A pid names a process of this stack only while it still carries the data dir in its environment (pids are reused). */
export const belongsToStack = (pid: number, dataDir: string): boolean =>
  alive(pid) && readProc(pid, 'environ').includes(`SWITCHYARD_DATA_DIR=${dataDir}\0`);

export type LeftoverStack =
  | { state: 'none' }
  /** Its launcher still runs: another `npm start` owns this data dir. */
  | { state: 'running'; launcherPid: number }
  /** Its launcher is gone; these of its children are still alive. */
  | { state: 'orphaned'; launcherPid: number; children: Array<{ name: string; pid: number }> };

/**
 * The data dir a running launcher uses: its SWITCHYARD_DATA_DIR (default ./.data, the config's default) resolved
 * against its working directory. A plain `npm start` has no SWITCHYARD_DATA_DIR in its own environment (only its
 * children get it), so the environment alone cannot tell whether that launcher still owns this dir.
 */
function launcherDataDir(pid: number): string | null {
  if (!alive(pid) || !readProc(pid, 'cmdline').includes('start.js')) return null;
  let cwd: string;
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return null;
  }
  const set = readProc(pid, 'environ')
    .split('\0')
    .find((v) => v.startsWith('SWITCHYARD_DATA_DIR='));
  return resolve(cwd, set ? set.slice('SWITCHYARD_DATA_DIR='.length) : './.data');
}

export function findLeftoverStack(dataDir: string): LeftoverStack {
  const file = readStackFile(dataDir);
  if (!file || file.launcherPid === process.pid) return { state: 'none' };
  if (launcherDataDir(file.launcherPid) === resolve(dataDir))
    return { state: 'running', launcherPid: file.launcherPid };
  const children = file.children.filter((c) => belongsToStack(c.pid, dataDir));
  return children.length ? { state: 'orphaned', launcherPid: file.launcherPid, children } : { state: 'none' };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once every one is gone. */
export async function stopProcesses(pids: number[], graceMs: number): Promise<void> {
  const signal = (pid: number, s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // already gone
    }
  };
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(alive)) signal(pid, 'SIGKILL');
  while (pids.some(alive)) await new Promise((r) => setTimeout(r, 50));
}
