import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { defineTask, TaskCatalog, type TaskArtifacts } from '#libs/task-sdk';
import { waitFor } from '#libs/testing';
import { CPU_TASK } from '../tasks/resources.js';
import { runOrder, type ChildMessage, type RunMessage } from './ipc-protocol.js';
import { ScratchDir } from './scratch-dir.js';
import { TaskRunnerChild } from './task-runner-child.js';

const mode = (p: string) => statSync(p).mode & 0o777;

describe('ScratchDir', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'sy-scratch-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('makes nothing until asked, then the dir and its missing parents, traverse-only for others', () => {
    const workRoot = join(root, 'worker');
    const dir = join(workRoot, 'w_cpu0', 'j.a.1');
    const scratch = new ScratchDir(dir);
    expect(scratch.made).toBe(false);
    expect(existsSync(workRoot)).toBe(false);
    expect(scratch.ensure()).toBe(dir);
    expect(scratch.made).toBe(true);
    for (const d of [workRoot, join(workRoot, 'w_cpu0'), dir]) expect(mode(d)).toBe(0o711);
    // the next attempt of the actor: only its own dir is made, once
    const next = new ScratchDir(join(workRoot, 'w_cpu0', 'j.a.2'));
    next.ensure();
    writeFileSync(join(next.path, 'f'), 'x');
    expect(next.ensure()).toBe(next.path);
    expect(mode(next.path)).toBe(0o711);
  });

  it('takes over a dir left by a crash (made: it must be removed)', () => {
    const dir = join(root, 'left');
    new ScratchDir(dir).ensure();
    const again = new ScratchDir(dir);
    again.ensure();
    expect(again.made).toBe(true);
    expect(mode(dir)).toBe(0o711);
  });
});

describe('TaskRunnerChild scratch dir', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'sy-scratch-run-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const noArtifacts = {} as TaskArtifacts;
  const tasks = new TaskCatalog([
    defineTask({
      name: 'noop',
      version: '1.0.0',
      resources: CPU_TASK,
      input: z.strictObject({}),
      output: z.strictObject({}),
      timeoutMs: 1_000,
      attempts: 1,
      run: async () => ({}),
    }),
    defineTask({
      name: 'writes',
      version: '1.0.0',
      resources: CPU_TASK,
      input: z.strictObject({}),
      output: z.strictObject({ wrote: z.string() }),
      timeoutMs: 1_000,
      attempts: 1,
      run: async (_i, ctx) => {
        const file = join(ctx.workDir, 'out.txt');
        writeFileSync(file, 'hi');
        return { wrote: file };
      },
    }),
  ]);

  // the runner's scratch dirs go under its work root, in its actor's dir, one per attempt (runOrder)
  const site = () => ({
    actorId: 'a',
    workRoot: join(root, 'w'),
    device: { kind: 'CPU' as const, index: 0, name: 'cpu' },
  });
  const message = (task: string): RunMessage => ({
    type: 'run',
    attempt: { jobId: task, nodeId: 'a', attempt: 1, tenant: 't' },
    task,
    taskVersion: '1.0.0',
    inputs: {},
  });
  const dirOf = (task: string) => runOrder(message(task), site()).workDir;

  const run = async (task: string): Promise<ChildMessage> => {
    const sent: ChildMessage[] = [];
    const child = new TaskRunnerChild(
      site(),
      tasks,
      () => noArtifacts,
      (m) => sent.push(m),
      { info: () => undefined, warn: () => undefined, error: () => undefined },
    );
    child.handle(message(task));
    // polled with a deadline in seconds: the run does real file system work (100 × 5 ms was tight under load)
    return waitFor(() => sent.find((m) => m.type === 'result' || m.type === 'error'), {
      timeoutMs: 10_000,
      intervalMs: 5,
      what: `${task} to end`,
    });
  };

  it('a task that never reads ctx.workDir leaves no dir, and says so', async () => {
    expect(dirOf('noop').startsWith(join(root, 'w', 'a'))).toBe(true);
    expect(await run('noop')).toMatchObject({ type: 'result', workDirUsed: false });
    expect(existsSync(join(root, 'w'))).toBe(false);
  });

  it('ctx.workDir makes the dir (0711) before the task uses it, and the result says so', async () => {
    const dir = dirOf('writes');
    expect(dir).toBe(join(root, 'w', 'a', 'writes.a.1'));
    const result = await run('writes');
    expect(result).toMatchObject({
      type: 'result',
      workDirUsed: true,
      outputs: { wrote: join(dir, 'out.txt') },
    });
    expect(mode(dir)).toBe(0o711);
  });
});
