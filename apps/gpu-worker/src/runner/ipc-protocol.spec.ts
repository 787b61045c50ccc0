import { z } from 'zod';
import { defineTask, TaskCatalog, TaskError } from '#libs/task-sdk';
import { waitFor } from '#libs/testing';
import { CPU_TASK } from '../tasks/resources.js';
import { childMessages, runIdOf, type ChildEnvelope, type RunMessage } from './ipc-protocol.js';
import { TaskRunnerChild } from './task-runner-child.js';
import { TurnBatchedSender } from './turn-batched-sender.js';

/*
 * What the runner sends in one turn goes in one envelope (a lease's results often share it): one malformed message
 * must cost only itself on the actor's side, and the runner must not send one for a task's odd error.
 */
const task = (name: string, run: () => Promise<{ ok: boolean }>) =>
  defineTask({
    name,
    version: '1.0.0',
    resources: CPU_TASK,
    input: z.strictObject({}),
    output: z.strictObject({ ok: z.boolean() }),
    timeoutMs: 1_000,
    attempts: 1,
    run,
  });

const run = (taskName: string, n: number): RunMessage => ({
  type: 'run',
  attempt: { jobId: `job-${n}`, nodeId: 'a', attempt: 1, tenant: `tenant-${n}` },
  task: taskName,
  taskVersion: '1.0.0',
  inputs: {},
});
const runId = (n: number) => runIdOf({ jobId: `job-${n}`, nodeId: 'a', attempt: 1 });

describe('runner → actor messages', () => {
  it('childMessages parses a batch message by message: a malformed one is an Error in its place', () => {
    const result = { type: 'result', runId: 'run-1', outputs: { ok: true }, artifactIds: [] };
    const bad = {
      type: 'error',
      runId: 'run-2',
      error: { code: 'OUT_OF_DISK', message: 'x', retryable: true },
    };
    const heartbeat = { type: 'heartbeat', at: 1 };
    const parsed = childMessages({ type: 'batch', messages: [result, bad, heartbeat] });
    expect(parsed[0]).toMatchObject({ type: 'result', runId: 'run-1' });
    expect(parsed[1]).toBeInstanceOf(Error);
    expect(parsed[2]).toEqual(heartbeat);
    expect(childMessages(heartbeat)).toEqual([heartbeat]);
    expect(childMessages({ type: 'nonsense' })[0]).toBeInstanceOf(Error);
  });

  it('a task that throws a TaskError with a code that is not ours ends TASK_FAILED naming it; its turn stays whole', async () => {
    const catalog = new TaskCatalog([
      task('quick', async () => ({ ok: true })),
      // JS task code is not type-checked: any code can reach the runner
      task('odd', async () => {
        throw new TaskError('OUT_OF_DISK' as never, 'disk full', { retryable: true });
      }),
    ]);
    const envelopes: ChildEnvelope[] = [];
    const sender = new TurnBatchedSender((e) => envelopes.push(e));
    const child = new TaskRunnerChild(
      { actorId: 'a', workRoot: '/nonexistent', device: { kind: 'CPU', index: 0, name: 'cpu' } },
      catalog,
      () => ({}) as never,
      (m) => sender.send(m),
      {
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      },
    );
    child.handle({ type: 'runs', runs: [run('quick', 1), run('odd', 2)] });
    const isEnd = (m: ReturnType<typeof childMessages>[number]) =>
      !(m instanceof Error) && (m.type === 'result' || m.type === 'error');
    // until both have ended (a fixed 100 ms sleep was too short on a loaded CI machine)
    await waitFor(() => envelopes.flatMap((e) => childMessages(e)).filter(isEnd).length >= 2, {
      timeoutMs: 5_000,
      what: 'both runs to end',
    });
    const messages = envelopes.flatMap((e) => childMessages(e));
    expect(messages.filter((m) => m instanceof Error)).toEqual([]);
    const ends = messages.filter(isEnd);
    expect(ends).toEqual([
      expect.objectContaining({ type: 'result', runId: runId(1) }),
      expect.objectContaining({
        type: 'error',
        runId: runId(2),
        error: {
          code: 'TASK_FAILED',
          message: expect.stringMatching(/^OUT_OF_DISK: disk full/),
          retryable: true,
        },
      }),
    ]);
  });
});
