import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import {
  createLocalTaskContext,
  runTask,
  schemaDisagreements,
  TaskError,
  type LocalTaskContext,
} from '#libs/task-sdk';
import { testCommandTaskEnv, testCommandTaskUidBase } from '#libs/testing';
import { bundleRunTaskChild } from '../test/bundle-child.js';
import { testCommandTaskUser } from '../test/command-task-user.js';
import { waitUntil } from '../test/wait-until.js';
import { commandTask } from './command-task.js';
import { CommandTaskDeclaration, CommandTasksFileError, readCommandTasksFile } from './command-tasks-file.js';
import { parseProgressLine } from './run-command.js';

const asRoot = process.getuid?.() === 0;
let dir: string;
let ctx: LocalTaskContext;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cmd-task-'));
  // As root, commands run as an unprivileged uid: the scripts and pid files here must be reachable by it.
  await chmod(dir, 0o1777);
  ctx = await createLocalTaskContext({ rootDir: dir, attempt: { jobId: 'j1', nodeId: 'n1', attempt: 2 } });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const cpu = { gpu: 0, vramGb: 0, cpu: 1 };
const declare = (
  over: Partial<CommandTaskDeclaration> & Pick<CommandTaskDeclaration, 'argv'>,
): CommandTaskDeclaration =>
  CommandTaskDeclaration.parse({
    name: 'ops.script',
    version: '1.0.0',
    input: { type: 'object', properties: {} },
    resources: cpu,
    timeoutMs: 60_000,
    attempts: 2,
    ...over,
  });

// A command written the way an operator would: reads its inputs, reports progress, leaves files.
const SCRIPT = `
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
const input = JSON.parse(readFileSync(process.env.SWITCHYARD_INPUT_FILE, 'utf8'));
const out = process.env.SWITCHYARD_OUTPUT_DIR;
console.log('hello from ' + process.env.SWITCHYARD_JOB_ID + '/' + process.env.SWITCHYARD_ATTEMPT);
console.log(JSON.stringify({ progress: 0.5, message: 'halfway' }));
console.error('a warning');
console.log('secret=' + (process.env.SY_TEST_SECRET ?? 'absent') + ' extra=' + process.env.EXTRA);
const seed = readFileSync(process.env.SWITCHYARD_INPUT_DIR + '/seed', 'utf8');
writeFileSync(out + '/result.json', JSON.stringify({ doubled: input.count * 2, seed }));
mkdirSync(out + '/sub');
writeFileSync(out + '/sub/notes.txt', input.label ?? 'none');
process.exit(input.count === 13 ? 4 : 0);
`;

describe('command tasks', () => {
  it('run the declared argv with inputs as a file, stream progress and logs, upload output files', async () => {
    const script = join(dir, 'script.mjs');
    await writeFile(script, SCRIPT);
    const task = commandTask(
      declare({
        argv: [process.execPath, script],
        env: { EXTRA: 'yes' },
        input: {
          type: 'object',
          properties: {
            count: { type: 'integer', minimum: 0 },
            label: { type: 'string', maxLength: 20 },
            seed: { type: 'string', artifact: true },
          },
          required: ['count', 'seed'],
        },
      }),
      { user: testCommandTaskUser() },
    );
    expect(task.manifest().artifactFields).toEqual(['artifacts']);
    const seed = await ctx.artifacts.put(Buffer.from('seed-bytes'), {
      name: 'seed.txt',
      contentType: 'text/plain',
    });
    process.env.SY_TEST_SECRET = 'do-not-leak';
    const out = await runTask(task, { count: 21, label: 'hi', seed }, ctx).finally(
      () => delete process.env.SY_TEST_SECRET,
    );

    expect(out.exitCode).toBe(0);
    expect(out.artifacts).toHaveLength(2);
    const [result, notes] = await Promise.all(out.artifacts.map((id) => ctx.stored(id)));
    expect(result).toMatchObject({ name: 'result.json', contentType: 'application/json' });
    expect(JSON.parse(await readFile(result!.path, 'utf8'))).toEqual({ doubled: 42, seed: 'seed-bytes' });
    expect(notes).toMatchObject({ name: 'sub_notes.txt', contentType: 'text/plain' });
    expect(await readFile(notes!.path, 'utf8')).toBe('hi');

    expect(ctx.progressUpdates).toContainEqual({ fraction: 0.5, message: 'halfway' });
    expect(ctx.logs).toContainEqual({ level: 'info', message: 'hello from j1/2' });
    expect(ctx.logs).toContainEqual({ level: 'warn', message: 'a warning' });
    // the worker's own environment (secrets) never reaches the command; declared env does
    expect(ctx.logs).toContainEqual({ level: 'info', message: 'secret=absent extra=yes' });

    const failed = await runTask(task, { count: 13, seed }, ctx).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(TaskError);
    expect(failed).toMatchObject({ code: 'TASK_FAILED', retryable: true });
    expect((failed as Error).message).toMatch(/exited with code 4: a warning/);

    await expect(runTask(task, { count: -1, seed }, ctx)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(runTask(task, { count: 1, seed, argv: ['rm'] }, ctx)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });

  it('kill the whole process group on cancellation, SIGKILL after the grace when SIGTERM is ignored', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const task = commandTask(
      declare({
        argv: ['/bin/sh', '-c', `trap '' TERM; sleep 60 & echo $! > ${pidFile}; echo started; wait`],
      }),
      { killGraceMs: 300, user: testCommandTaskUser() },
    );
    const ac = new AbortController();
    const c = await createLocalTaskContext({ rootDir: dir, signal: ac.signal });
    const started = Date.now();
    const run = runTask(task, {}, c).catch((e: unknown) => e);
    await waitUntil(() => c.logs.some((l) => l.message === 'started'), 5000);
    const grandchild = Number(await readFile(pidFile, 'utf8'));
    expect(isAlive(grandchild)).toBe(true);
    ac.abort('cancelled by test');
    const err = await run;
    expect(err).toMatchObject({ code: 'CANCELLED', retryable: false });
    expect(Date.now() - started).toBeLessThan(5000);
    await waitUntil(() => !isAlive(grandchild), 2000);
  });

  it('do not outlive a runner that gets SIGTERM (the supervisor kills the runner, not the command group)', async () => {
    const child = await bundleRunTaskChild();
    try {
      const pidFile = join(dir, 'sleep.pid');
      const commands = join(dir, 'commands.json');
      await writeFile(
        commands,
        JSON.stringify({
          tasks: [
            {
              ...declare({ argv: ['/bin/sh', '-c', `trap '' TERM; sleep 60 & echo $! > ${pidFile}; wait`] }),
              name: 'ops.stubborn',
            },
          ],
        }),
      );
      const runner = spawn(process.execPath, [child, 'ops.stubborn', '1.0.0', '{}', dir], {
        env: { ...process.env, ...testCommandTaskEnv(), WORKER_COMMAND_TASKS_FILE: commands },
        stdio: 'ignore',
      });
      const exited = new Promise<NodeJS.Signals | null>((r) => runner.once('exit', (_c, sig) => r(sig)));
      // polled every millisecond: the SIGTERM lands right after the spawn, when the runner has only just
      // started the command (where a SIGTERM listener installed after spawn() came too late)
      await waitUntil(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 10_000, 1);
      const sleeper = Number(readFileSync(pidFile, 'utf8'));
      expect(isAlive(sleeper)).toBe(true);
      runner.kill('SIGTERM');
      expect(await exited).toBe('SIGTERM');
      await waitUntil(() => !isAlive(sleeper), 2000);
    } finally {
      await rm(dirname(child), { recursive: true, force: true });
    }
  }, 30_000);

  (asRoot ? it : it.skip)(
    "run as this test run's uid, in the spec and in a task-running child, never the production 61000",
    async () => {
      // another test run on this machine (or a worker) running commands as 61000 would have them killed by
      // these commands' clean-up, and kill these (libs/testing testCommandTaskUidBase)
      const base = testCommandTaskUidBase();
      expect(base).not.toBe(61_000);
      const check = declare({
        argv: ['/bin/sh', '-c', `id -u; test "$(id -u)" = ${base} || { echo "uid $(id -u)" >&2; exit 3; }`],
      });
      const out = await runTask(commandTask(check, { user: testCommandTaskUser() }), {}, ctx);
      expect(out.exitCode).toBe(0);
      expect(ctx.logs).toContainEqual({ level: 'info', message: String(base) });

      const child = await bundleRunTaskChild();
      try {
        const commands = join(dir, 'commands.json');
        await writeFile(commands, JSON.stringify({ tasks: [check] }), { mode: 0o644 });
        const runner = spawn(process.execPath, [child, 'ops.script', '1.0.0', '{}', join(dir, 'child')], {
          env: { ...process.env, ...testCommandTaskEnv(), WORKER_COMMAND_TASKS_FILE: commands },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let printed = '';
        runner.stdout!.on('data', (b: Buffer) => (printed += b.toString()));
        await new Promise((r) => runner.once('exit', r));
        const last = printed
          .trim()
          .split('\n')
          .filter((l) => !l.startsWith('{"beat"'))
          .pop();
        expect(JSON.parse(last!)).toMatchObject({ result: { exitCode: 0 } });
      } finally {
        await rm(dirname(child), { recursive: true, force: true });
      }
    },
    30_000,
  );

  it('fail without retry when the declared program does not exist', async () => {
    const task = commandTask(declare({ argv: [join(dir, 'no-such-program')] }), {
      user: testCommandTaskUser(),
    });
    await expect(runTask(task, {}, ctx)).rejects.toMatchObject({ code: 'TASK_FAILED', retryable: false });
  });

  it('advertise a JSON Schema that agrees with the zod schema built from the declaration', () => {
    const task = commandTask(
      declare({
        argv: ['true'],
        input: {
          type: 'object',
          properties: {
            mode: { type: 'string', enum: ['fast', 'slow'] },
            code: { type: 'string', pattern: '^[a-z]+$', minLength: 2 },
            n: { type: 'integer', enum: [1, 2, 3] },
            ratio: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
            flags: { type: 'array', items: { type: 'boolean' }, maxItems: 2 },
            model: { type: 'string', artifact: true },
          },
          required: ['mode'],
        },
      }),
    );
    const samples = [
      { mode: 'fast' },
      { mode: 'slow', code: 'ab', n: 2, ratio: 1, flags: [true, false], model: 'a1' },
      { mode: 'other' },
      { code: 'ab' },
      { mode: 'fast', code: 'a' },
      { mode: 'fast', code: 'AB' },
      { mode: 'fast', n: 4 },
      { mode: 'fast', n: 1.5 },
      { mode: 'fast', ratio: 0 },
      { mode: 'fast', flags: [true, true, true] },
      { mode: 'fast', flags: ['x'] },
      { mode: 'fast', model: '' },
      { mode: 'fast', model: 5 },
      { mode: 'fast', unknown: 1 },
    ];
    expect(
      schemaDisagreements(task, {
        input: samples,
        output: [
          { artifacts: ['a'], exitCode: 0 },
          { artifacts: [1], exitCode: 0 },
        ],
      }),
    ).toEqual([]);
  });

  it('refuse a declarations file with unknown keywords, bad names or dangling required fields', async () => {
    const file = join(dir, 'commands.json');
    const write = (tasks: unknown) => writeFile(file, JSON.stringify({ tasks }));
    const ok = {
      name: 'ops.a',
      version: '1.0.0',
      argv: ['true'],
      input: { type: 'object', properties: {} },
      resources: cpu,
      timeoutMs: 1000,
      attempts: 1,
    };
    await write([ok]);
    expect(readCommandTasksFile(file)).toHaveLength(1);
    await write([{ ...ok, input: { type: 'object', properties: { a: { type: 'string', format: 'uri' } } } }]);
    expect(() => readCommandTasksFile(file)).toThrow(CommandTasksFileError);
    await write([{ ...ok, input: { type: 'object', properties: {}, required: ['ghost'] } }]);
    expect(() => readCommandTasksFile(file)).toThrow(/ghost/);
    await write([{ ...ok, argv: [] }]);
    expect(() => readCommandTasksFile(file)).toThrow(/argv/);
    await write([{ ...ok, input: { type: 'object', properties: { a: { type: 'string', pattern: '(' } } } }]);
    expect(() => readCommandTasksFile(file)).toThrow(/pattern/);
    expect(() => readCommandTasksFile(join(dir, 'missing.json'))).toThrow(CommandTasksFileError);
    expect(existsSync(file)).toBe(true);
  });

  it('accept the example declaration of the README', async () => {
    const readme = await readFile(new URL('./README.md', import.meta.url), 'utf8');
    const file = join(dir, 'readme-example.json');
    await writeFile(file, /```json\n([\s\S]*?)```/.exec(readme)![1]!);
    const [decl] = readCommandTasksFile(file);
    expect(commandTask(decl!).manifest()).toMatchObject({ name: 'ops.denoise', resources: { gpu: 1 } });
  });

  it('parse only JSON progress lines as progress', () => {
    expect(parseProgressLine('{"progress":0.25,"message":"x"}')).toEqual({ fraction: 0.25, message: 'x' });
    expect(parseProgressLine('{"progress":"half"}')).toBeNull();
    expect(parseProgressLine('{not json')).toBeNull();
    expect(parseProgressLine('progress 0.5')).toBeNull();
  });
});

/** Running, not a zombie waiting for a reaper (pid 1 of a container may reap slowly). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}
