/**
 * A command task's uid (COMMAND_TASK_UID_BASE + slot) can write to /tmp, /var/tmp and /dev/shm; the actor's next
 * attempt, whatever its tenant, runs as the same uid and would read what is left there (a secret, or a planted
 * library or config it loads). Every file of the uid there goes with the attempt (leftover-files.ts), without
 * following links. Runs as root only (as the worker must to run command tasks); slot 7 of this test run's uids,
 * so as not to share a uid with the other specs of this folder.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { lstatSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalTaskContext, runTask, TaskError } from '#libs/task-sdk';
import { commandTask } from './command-task.js';
import { CommandTaskDeclaration } from './command-tasks-file.js';
import { removeFilesOf } from './leftover-files.js';
import { testCommandTaskUser } from '../test/command-task-user.js';

const asRoot = process.getuid?.() === 0;
const USER = testCommandTaskUser(7);
const UID = USER.uidBase + USER.slot;

// What a tenant's code leaves behind: a secret in /tmp and /dev/shm, a tree (with a folder it cannot write
// and a link to root's folder inside), and links to root's file; then it exits 0.
const PLANT = `
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, symlinkSync, chmodSync } from 'node:fs';
const { TAG, ROOT_FILE, ROOT_DIR } = process.env;
writeFileSync('/tmp/x-' + TAG, 'mallory-secret');
writeFileSync('/dev/shm/y-' + TAG, 'mallory-secret');
writeFileSync('/var/tmp/z-' + TAG, 'mallory-secret');
mkdirSync('/tmp/tree-' + TAG + '/a/b', { recursive: true });
writeFileSync('/tmp/tree-' + TAG + '/a/b/lib.so', 'planted');
symlinkSync(ROOT_DIR, '/tmp/tree-' + TAG + '/a/root-dir');
chmodSync('/tmp/tree-' + TAG + '/a/b', 0o500);
symlinkSync(ROOT_FILE, '/tmp/link-' + TAG);
symlinkSync(ROOT_DIR, '/dev/shm/dirlink-' + TAG);
execFileSync('/usr/bin/ipcmk', ['-M', '4096']);
execFileSync('/usr/bin/ipcmk', ['-Q']);
`;

// The next attempt: what of the above can it still find?
const LOOK = `
import { existsSync, lstatSync } from 'node:fs';
const { TAG } = process.env;
const found = ['/tmp/x-', '/dev/shm/y-', '/var/tmp/z-', '/tmp/tree-', '/tmp/link-', '/dev/shm/dirlink-']
  .map((p) => p + TAG)
  .filter((p) => { try { lstatSync(p); return true; } catch { return false; } });
if (found.length) { console.error('found ' + found.join(' ')); process.exit(1); }
`;

/** The System V IPC objects a uid owns or created (/proc/sysvipc), as `kind id`. */
const ipcOf = (uid: number) =>
  ['shm', 'msg', 'sem'].flatMap((kind) => {
    const [head = [], ...rows] = readFileSync(`/proc/sysvipc/${kind}`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    const [u, c] = [head.indexOf('uid'), head.indexOf('cuid')];
    return rows.filter((r) => Number(r[u]) === uid || Number(r[c]) === uid).map((r) => `${kind} ${r[1]}`);
  });

const present = (p: string) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

(asRoot ? describe : describe.skip)('a command task leaves no files in world-writable places', () => {
  let dir: string;
  let tag: string;
  const planted = () =>
    ['/tmp/x-', '/dev/shm/y-', '/var/tmp/z-', '/tmp/tree-', '/tmp/link-', '/dev/shm/dirlink-'].map(
      (p) => p + tag,
    );
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'review-files-'));
    await chmod(dir, 0o755);
    tag = randomUUID();
  });
  afterEach(async () => {
    await chmod(`/tmp/tree-${tag}/a/b`, 0o700).catch(() => undefined);
    for (const p of planted()) await rm(p, { recursive: true, force: true });
    for (const [kind, id] of ipcOf(UID).map((o) => o.split(' ')))
      execFileSync('/usr/bin/ipcrm', [kind === 'shm' ? '-m' : kind === 'msg' ? '-q' : '-s', String(id)]);
    await rm(dir, { recursive: true, force: true });
  });

  const declare = (name: string, script: string, env: Record<string, string>) =>
    CommandTaskDeclaration.parse({
      name,
      version: '1.0.0',
      argv: [process.execPath, script],
      env,
      input: { type: 'object', properties: {} },
      resources: { gpu: 0, vramGb: 0, cpu: 1 },
      timeoutMs: 60_000,
      attempts: 1,
    });

  it('what it wrote to /tmp, /var/tmp and /dev/shm goes with its attempt: links are removed, not followed; the next attempt finds nothing', async () => {
    await writeFile(join(dir, 'plant.mjs'), PLANT, { mode: 0o644 });
    await writeFile(join(dir, 'look.mjs'), LOOK, { mode: 0o644 });
    // root's own files, which the links point at
    const rootDir = join(dir, 'root-dir');
    await mkdir(rootDir, { mode: 0o755 });
    await writeFile(join(rootDir, 'keep.txt'), 'root', { mode: 0o644 });
    const rootFile = join(dir, 'root-file');
    await writeFile(rootFile, 'root', { mode: 0o644 });
    const env = { TAG: tag, ROOT_FILE: rootFile, ROOT_DIR: rootDir };

    const attacker = commandTask(declare('ops.plant', join(dir, 'plant.mjs'), env), { user: USER });
    const ctxA = await createLocalTaskContext({ rootDir: join(dir, 'a'), attempt: { jobId: 'mallory-job' } });
    expect((await runTask(attacker, {}, ctxA)).exitCode).toBe(0);

    expect(planted().filter(present)).toEqual([]);
    expect(ipcOf(UID)).toEqual([]);
    expect(await readFile(rootFile, 'utf8')).toBe('root');
    expect(await readFile(join(rootDir, 'keep.txt'), 'utf8')).toBe('root');
    expect((await stat(rootDir)).uid).toBe(0);

    // the actor's next attempt (another tenant's job, the same uid) finds none of it
    const looker = commandTask(declare('ops.look', join(dir, 'look.mjs'), env), { user: USER });
    const ctxB = await createLocalTaskContext({ rootDir: join(dir, 'b'), attempt: { jobId: 'alice-job' } });
    expect((await runTask(looker, {}, ctxB)).exitCode).toBe(0);
  }, 60_000);

  it('what an earlier attempt left (its runner died before cleaning) goes before the next command starts', async () => {
    await writeFile(join(dir, 'look.mjs'), LOOK, { mode: 0o644 });
    for (const p of [`/tmp/x-${tag}`, `/dev/shm/y-${tag}`]) {
      await writeFile(p, 'mallory-secret', { mode: 0o600 });
      await chown(p, UID, 65_534);
    }
    const looker = commandTask(declare('ops.look', join(dir, 'look.mjs'), { TAG: tag }), { user: USER });
    const ctx = await createLocalTaskContext({ rootDir: join(dir, 'b'), attempt: { jobId: 'alice-job' } });
    expect((await runTask(looker, {}, ctx)).exitCode).toBe(0);
  }, 60_000);

  it('a cleanup that cannot finish within its bound fails the attempt, retryable, naming the uid', async () => {
    const user = { uid: UID, gid: 65_534, name: 'nobody', dedicated: true };
    const place = join(dir, 'place');
    await mkdir(place);
    await chmod(place, 0o1777);
    for (let i = 0; i < 20; i++) await writeFile(join(place, `f${i}`), '');
    await chmod(dir, 0o755);
    const err = await removeFilesOf(user, { places: [place], maxEntries: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ code: 'TASK_FAILED', retryable: true });
    expect(String((err as Error).message)).toMatch(new RegExp(`uid ${UID}.*more than 10 entries`));
  }, 30_000);
});
