/**
 * What a hostile tenant's command can make the runner hold or do with its output: a line that never ends, a
 * flood of progress lines, an output folder of countless or deeply nested entries. Each is bounded in the runner
 * (the runner serves other tenants' attempts next); disk bytes and inodes are bounded by the deployment
 * (README). Real commands, as the other specs here; as root they run as the task uid.
 */
import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createLocalTaskContext, runTask, TaskError, type LocalTaskContext } from '#libs/task-sdk';
import { testCommandTaskEnv } from '#libs/testing';
import { bundleRunTaskChild } from '../test/bundle-child.js';
import { testCommandTaskUser } from '../test/command-task-user.js';
import { commandTask, MAX_OUTPUT_FILES } from './command-task.js';
import { CommandTaskDeclaration } from './command-tasks-file.js';
import { BoundedLineSplitter } from './bounded-lines.js';
import { listOutputFiles } from './output-files.js';
import { runCommand } from './run-command.js';
import { throttledProgress } from './throttled-progress.js';

/** run-command.ts MAX_LINE_BYTES (a literal here, so that this spec also runs against code without it). */
const MAX_LINE_BYTES = 16 * 1024;

let dir: string;
let ctx: LocalTaskContext;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cmd-bounds-'));
  // as root the command runs as an unprivileged uid: its scripts here must be reachable by it
  await chmod(dir, 0o1777);
  ctx = await createLocalTaskContext({ rootDir: join(dir, 'ctx') });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const declare = (argv: string[]): CommandTaskDeclaration =>
  CommandTaskDeclaration.parse({
    name: 'ops.hostile',
    version: '1.0.0',
    argv,
    input: { type: 'object', properties: {} },
    resources: { gpu: 0, vramGb: 0, cpu: 1 },
    timeoutMs: 120_000,
    attempts: 1,
  });

/** A node script as the command (written here, readable by the task uid). */
async function script(source: string): Promise<string[]> {
  const file = join(dir, `s${Math.random().toString(36).slice(2)}.mjs`);
  await writeFile(file, source, { mode: 0o644 });
  return [process.execPath, file];
}

// `bytes` of 'x' and no newline, then two more lines (the last one unterminated)
const ENDLESS_LINE = (bytes: number) =>
  `head -c ${bytes} /dev/zero | tr '\\000' x; echo; echo after; printf 'tail'`;

describe('a command line without a newline', () => {
  it('is cut at MAX_LINE_BYTES with a marker, and the lines after it still arrive', async () => {
    const lines: {
      stream: string;
      length: number;
      head: string;
      end: string;
    }[] = [];
    const result = await runCommand({
      argv: ['/bin/sh', '-c', `{ ${ENDLESS_LINE(20_000_000)}; } >&2; echo; echo out`],
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      signal: new AbortController().signal,
      onProgress: () => undefined,
      onLine: (stream, line) =>
        lines.push({
          stream,
          length: line.length,
          head: line.slice(0, 3),
          end: line.slice(-80),
        }),
    });
    expect(result.exitCode).toBe(0);
    // per stream (the two pipes are read independently)
    const err = lines.filter((l) => l.stream === 'stderr');
    expect(err.map((l) => l.head)).toEqual(['xxx', 'aft', 'tai']);
    expect(lines.filter((l) => l.stream === 'stdout').map((l) => l.end)).toEqual(['', 'out']);
    expect(err[0]!.length).toBeLessThanOrEqual(MAX_LINE_BYTES + 100);
    expect(err[0]!.end).toMatch(/x… \[line cut: 20000000 bytes\]$/);
    expect(err.slice(1).map((l) => l.end)).toEqual(['after', 'tail']);
    // the failure message quotes stderr's last lines: cut as well
    expect(result.stderrTail.every((l) => l.length <= MAX_LINE_BYTES + 100)).toBe(true);
  }, 60_000);

  it('does not grow the runner: a runner with a 64 MB heap survives 400 MB printed without a newline', async () => {
    const child = await bundleRunTaskChild();
    try {
      const commands = join(dir, 'commands.json');
      await writeFile(
        commands,
        JSON.stringify({
          tasks: [declare(['/bin/sh', '-c', ENDLESS_LINE(400_000_000)])],
        }),
        { mode: 0o644 },
      );
      const runner = spawn(
        process.execPath,
        ['--max-old-space-size=64', child, 'ops.hostile', '1.0.0', '{}', join(dir, 'runner')],
        {
          env: { ...process.env, ...testCommandTaskEnv(), WORKER_COMMAND_TASKS_FILE: commands },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      runner.stdout.on('data', (c: Buffer) => (out += c.toString()));
      runner.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
      const exit = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
        runner.once('exit', (code, sig) => r([code, sig])),
      );
      const printed = out
        .split('\n')
        .filter((l) => l.startsWith('{"result"') || l.startsWith('{"error"'))
        .map((l) => JSON.parse(l) as unknown);
      expect({ exit, printed, err: err.includes('heap') ? err : '' }).toEqual({
        exit: [0, null],
        printed: [{ result: { artifacts: [], exitCode: 0 } }],
        err: '',
      });
    } finally {
      await rm(dirname(child), { recursive: true, force: true });
    }
  }, 120_000);
});

describe('BoundedLineSplitter', () => {
  const split = (chunks: (string | Buffer)[], maxBytes = 8) => {
    const lines: string[] = [];
    const s = new BoundedLineSplitter(maxBytes, (l) => lines.push(l));
    for (const c of chunks) s.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
    s.end();
    return lines;
  };

  it('ends lines at \\n, \\r\\n (also across chunks) and a lone \\r, as readline does', () => {
    expect(split(['a\nb\r\nc\rd', '\r', '\ne\n\nf'])).toEqual(['a', 'b', 'c', 'd', 'e', '', 'f']);
    expect(split(['a\n'])).toEqual(['a']);
    expect(split([])).toEqual([]);
  });

  it('keeps maxBytes of a longer line, over any number of chunks, and marks it with its length', () => {
    expect(split(['0123', '4567', '89', 'ab\nok\n'])).toEqual(['01234567… [line cut: 12 bytes]', 'ok']);
    expect(split(['01234567\n'])).toEqual(['01234567']);
    expect(split(['012345678'])).toEqual(['01234567… [line cut: 9 bytes]']);
  });

  it('decodes UTF-8 split across chunks; a character cut at the bound becomes U+FFFD', () => {
    const e = Buffer.from('é');
    expect(
      split([Buffer.from('ab'), e.subarray(0, 1), Buffer.concat([e.subarray(1), Buffer.from('\n')])]),
    ).toEqual(['abé']);
    expect(split(['abcdefgé\n'])).toEqual(['abcdefg\ufffd… [line cut: 9 bytes]']);
  });
});

/** command-task.ts MAX_LOG_CHARS (a literal here, so that this spec also runs against code without it). */
const MAX_LOG_CHARS = 1024 * 1024;

describe('log lines', () => {
  it('forward at most MAX_LOG_CHARS characters per attempt, in order, then one warning with the number not forwarded', async () => {
    // 400 lines of 8000 characters (3.2 MB): far under the line cap, three times the character cap
    const flood = await script(`
      for (let i = 0; i < 400; i++) console.log(String(i).padStart(4, '0') + 'x'.repeat(7996));
    `);
    const out = await runTask(commandTask(declare(flood), { user: testCommandTaskUser() }), {}, ctx);
    expect(out.exitCode).toBe(0);
    const lines = ctx.logs.filter((l) => /^\d{4}x/.test(l.message));
    const chars = lines.reduce((n, l) => n + l.message.length, 0);
    expect(chars).toBeLessThanOrEqual(MAX_LOG_CHARS);
    expect(lines.length).toBe(Math.floor(MAX_LOG_CHARS / 8000));
    expect(lines.map((l) => l.message.slice(0, 4))).toEqual(lines.map((_, i) => String(i).padStart(4, '0')));
    const warnings = ctx.logs.filter((l) => l.level === 'warn').map((l) => l.message);
    expect(warnings).toEqual([
      expect.stringMatching(
        new RegExp(`^${400 - lines.length} further output line\\(s\\) were not forwarded`),
      ),
    ]);
  }, 60_000);
});

describe('progress lines', () => {
  it('are forwarded at most every PROGRESS_INTERVAL_MS, the latest one last', async () => {
    const flood = await script(`
      for (let i = 0; i < 20000; i++) console.log(JSON.stringify({ progress: i / 20000, message: 'step ' + i }));
      console.log(JSON.stringify({ progress: 0.99, message: 'last' }));
    `);
    const started = Date.now();
    const out = await runTask(commandTask(declare(flood), { user: testCommandTaskUser() }), {}, ctx);
    const elapsed = Date.now() - started;
    expect(out.exitCode).toBe(0);
    const updates = ctx.progressUpdates;
    // a few per second at most (plus the first, the latest at exit and the task's own final one)
    expect(updates.length).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + 3);
    expect(updates.slice(-2)).toEqual([
      { fraction: 0.99, message: 'last' },
      { fraction: 1, message: 'exit 0, 0 output file(s)' },
    ]);
    // progress lines are no log lines (they do not eat the log budget) and are not lost silently
    expect(ctx.logs.filter((l) => l.message.includes('"progress"'))).toEqual([]);
  }, 60_000);

  // Fake timers (and Date): on a loaded machine the real 1000-call loop or the 80 ms sleep could straddle the interval.
  it('throttled: one update per interval, the latest, none lost at flush (unit)', () => {
    jest.useFakeTimers();
    try {
      const sent: number[] = [];
      const progress = throttledProgress((f) => sent.push(f), 50);
      for (let i = 1; i <= 1000; i++) progress(i / 1000);
      expect(sent).toEqual([0.001]);
      jest.advanceTimersByTime(49);
      expect(sent).toEqual([0.001]);
      jest.advanceTimersByTime(1);
      expect(sent).toEqual([0.001, 1]);
      progress(0.2);
      progress(0.3);
      progress.flush();
      expect(sent).toEqual([0.001, 1, 0.3]);
      jest.advanceTimersByTime(80);
      expect(sent).toHaveLength(3);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('the output folder', () => {
  const refusal = async (source: string) => {
    const err = await runTask(
      commandTask(declare(await script(source)), { user: testCommandTaskUser() }),
      {},
      ctx,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ code: 'TASK_FAILED', retryable: false });
    return (err as Error).message;
  };

  it(`with more than ${MAX_OUTPUT_FILES} files is refused`, async () => {
    const message = await refusal(`
      import { writeFileSync } from 'node:fs';
      for (let i = 0; i < 150; i++) writeFileSync(process.env.SWITCHYARD_OUTPUT_DIR + '/f' + i, 'x');
    `);
    expect(message).toMatch(/more than 100 files/);
  });

  it('of countless empty folders is refused without walking them all (MAX_OUTPUT_ENTRIES)', async () => {
    const message = await refusal(`
      import { mkdirSync } from 'node:fs';
      for (let i = 0; i < 12000; i++) mkdirSync(process.env.SWITCHYARD_OUTPUT_DIR + '/d' + i);
    `);
    expect(message).toMatch(/more than 10000 entries/);
  }, 60_000);

  it('nested deeper than MAX_OUTPUT_DEPTH is refused', async () => {
    const message = await refusal(`
      import { mkdirSync, writeFileSync } from 'node:fs';
      const deep = process.env.SWITCHYARD_OUTPUT_DIR + '/d'.repeat(40);
      mkdirSync(deep, { recursive: true });
      writeFileSync(deep + '/result.txt', 'buried');
    `);
    expect(message).toMatch(/deeper than 16 folders/);
  });

  it('within the bounds still becomes artifacts (links and special files skipped)', async () => {
    const out = await runTask(
      commandTask(
        declare(
          await script(`
            import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
            const out = process.env.SWITCHYARD_OUTPUT_DIR;
            mkdirSync(out + '/a/b', { recursive: true });
            writeFileSync(out + '/a/b/deep.txt', 'ok');
            writeFileSync(out + '/top.json', '{}');
            symlinkSync('/etc/passwd', out + '/passwd');
          `),
        ),
        { user: testCommandTaskUser() },
      ),
      {},
      ctx,
    );
    const names = await Promise.all(out.artifacts.map(async (id) => (await ctx.stored(id))?.name));
    expect(names).toEqual(['a_b_deep.txt', 'top.json']);
  });

  it('walk: up to each bound is fine, one more is refused (unit, small bounds)', async () => {
    const out = join(dir, 'out');
    await mkdir(join(out, 'a', 'b'), { recursive: true });
    await Promise.all(['1', '2', 'a/3'].map((f) => writeFile(join(out, f), f)));
    const limits = { maxFiles: 3, maxEntries: 5, maxDepth: 2 };
    expect((await listOutputFiles(out, limits)).map((f) => f.path.slice(out.length))).toEqual([
      '/1',
      '/2',
      '/a/3',
    ]);
    await expect(listOutputFiles(out, { ...limits, maxFiles: 2 })).rejects.toThrow(/more than 2 files/);
    await expect(listOutputFiles(out, { ...limits, maxEntries: 4 })).rejects.toThrow(/more than 4 entries/);
    await expect(listOutputFiles(out, { ...limits, maxDepth: 1 })).rejects.toThrow(/deeper than 1 folders/);
  });
});
