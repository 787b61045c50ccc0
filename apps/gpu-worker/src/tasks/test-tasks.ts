import { z } from 'zod';
import { defineTask, TaskError, type TaskDefinition } from '#libs/task-sdk';
import { loadTensorflow } from './classifier/tensorflow.js';
import { CPU_TASK } from './resources.js';

/*
 * Tasks that misbehave on purpose, for the worker's supervision tests. Loaded only when
 * SWITCHYARD_TEST_TASKS=1, never advertised by a production worker.
 */

const empty = z.strictObject({});

/** Sleeps `ms`, reporting progress about ten times; stops as soon as the signal aborts. */
export const testSleep = defineTask({
  name: 'test.sleep',
  version: '1.0.0',
  description: 'Test only: sleeps for ms milliseconds with progress; honours cancellation.',
  resources: CPU_TASK,
  input: z.strictObject({ ms: z.int().min(0).max(3_600_000) }),
  output: z.strictObject({ sleptMs: z.int().min(0) }),
  timeoutMs: 3_600_000,
  attempts: 1,
  async run({ ms }, ctx) {
    const started = Date.now();
    const step = Math.max(10, Math.min(1000, Math.floor(ms / 10)));
    // one clock read per step, for the progress and the loop alike: the last progress sent is always 1 (two
    // reads could report 199 of 200 ms and then find the time up)
    let elapsed = 0;
    while (elapsed < ms) {
      await abortableDelay(Math.min(step, ms - elapsed), ctx.signal);
      elapsed = Math.min(ms, Date.now() - started);
      ctx.progress(elapsed / ms, `slept ${elapsed} of ${ms} ms`);
    }
    return { sleptMs: Date.now() - started };
  },
});

/** Fails attempts 1..times with a retryable TASK_FAILED, then succeeds. */
export const testFail = defineTask({
  name: 'test.fail',
  version: '1.0.0',
  description: 'Test only: fails its first `times` attempts (retryable), then succeeds.',
  resources: CPU_TASK,
  input: z.strictObject({ times: z.int().min(0).max(100) }),
  output: z.strictObject({ attempt: z.int().min(1) }),
  timeoutMs: 60_000,
  attempts: 3,
  async run({ times }, ctx) {
    const { attempt } = ctx.attempt;
    if (attempt <= times) {
      throw new TaskError(
        'TASK_FAILED',
        `test.fail: attempt ${attempt} of the first ${times} fails on purpose`,
        {
          retryable: true,
        },
      );
    }
    return { attempt };
  },
});

/** Awaits forever and ignores its signal: only the supervisor's timeout (kill) ends it. Heartbeats go on. */
export const testHang = defineTask({
  name: 'test.hang',
  version: '1.0.0',
  description: 'Test only: awaits forever, ignoring cancellation.',
  resources: CPU_TASK,
  input: empty,
  output: empty,
  timeoutMs: 30_000,
  attempts: 1,
  async run() {
    // A pending promise with no timer keeps nothing alive by itself; the runner's IPC channel does.
    await new Promise<never>(() => {});
    return {};
  },
});

/** Blocks the runner's event loop forever: heartbeats stop, so the supervisor must detect STUCK. */
export const testBusy = defineTask({
  name: 'test.busy',
  version: '1.0.0',
  description: 'Test only: busy-loops forever, blocking its event loop.',
  resources: CPU_TASK,
  input: empty,
  output: empty,
  timeoutMs: 30_000,
  attempts: 1,
  async run() {
    for (;;) {
      // deliberately empty: a task stuck in synchronous code
    }
  },
});

/** Exits the runner process mid-attempt: the supervisor must see CRASHED. */
export const testCrash = defineTask({
  name: 'test.crash',
  version: '1.0.0',
  description: 'Test only: exits its process mid-attempt.',
  resources: CPU_TASK,
  input: z.strictObject({ exitCode: z.int().min(0).max(255).optional() }),
  output: empty,
  timeoutMs: 30_000,
  attempts: 1,
  async run({ exitCode }, ctx) {
    ctx.log.warn('test.crash: exiting the runner process on purpose');
    process.exit(exitCode ?? 70);
  },
});

/** Allocates without bound: only the runner's heap limit (RUNNER_MAX_OLD_SPACE_MB) stops it. */
export const testOom = defineTask({
  name: 'test.oom',
  version: '1.0.0',
  description: 'Test only: allocates memory until the runner dies of its heap limit.',
  resources: CPU_TASK,
  input: empty,
  output: empty,
  timeoutMs: 60_000,
  attempts: 1,
  async run() {
    const hoard: number[][] = [];
    for (;;) {
      hoard.push(Array.from({ length: 1_000_000 }, (_, i) => i));
      await new Promise((r) => setImmediate(r)); // heartbeats go on: it dies of memory, not of STUCK
    }
  },
});

/** Makes a tensor of `floats` float32s and keeps it (0: makes none): off-heap memory left in the runner. */
export const testRetainTensors = defineTask({
  name: 'test.retain-tensors',
  version: '1.0.0',
  description: 'Test only: loads tfjs and leaves a tensor of `floats` float32s in the runner.',
  resources: CPU_TASK,
  input: z.strictObject({ floats: z.int().min(0).max(1_000_000) }),
  output: z.strictObject({ tensors: z.int().min(0) }),
  timeoutMs: 60_000,
  attempts: 1,
  async run({ floats }) {
    const tf = await loadTensorflow();
    tf.tidy(() => void tf.ones([4]).sum()); // tfjs used, nothing kept
    if (floats > 0) tf.zeros([floats]); // never disposed, on purpose
    return { tensors: tf.memory().numTensors };
  },
});

export const testTasks: TaskDefinition[] = [
  testSleep,
  testFail,
  testHang,
  testBusy,
  testCrash,
  testOom,
  testRetainTensors,
];

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason ?? new Error('aborted'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason ?? new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
