import type { JobEvent, JsonObject } from '#libs/contracts';
import { redisPerSuite } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestTaskFailure, TestWorker, type TaskHandler } from '../../test/test-worker.js';
import { allEvents, drain, single, waitForJob } from '../../test/scenario.js';
import { JOB_KEYS } from './keys.js';
import { NO_METRICS } from './scheduler-ports.js';

/**
 * The per-job budget of log event bytes (JOB_LOG_MAX_BYTES): a job whose attempts log more than it keeps the lines
 * that fit, then ONE truncation event, then drops its further lines (counted); its other events are all kept.
 */
const TENANT = 'acme';
const BUDGET = 64 * 1024;
/** Lines of a heavy attempt: ~16 of them fit the budget. */
const HEAVY_LINES = 40;
const LINE = (i: number) => `${String(i).padStart(4, '0')} ${'x'.repeat(4_000)}`;
const tasks = Object.values(TEST_TASKS).filter((t) => t.resources.gpu === 0);

/** test.emit: value 1 logs HEAVY_LINES long lines around a progress; 2 logs three short lines; 3 logs heavily
 * and fails (not retryable) on its first run, then logs one line and succeeds. */
const runs = new Map<string, number>();
const emit: TaskHandler = async (payload, ctx) => {
  const value = payload.inputs.value as number;
  const run = (runs.get(payload.jobId) ?? 0) + 1;
  runs.set(payload.jobId, run);
  if (value === 4) {
    // progress messages only: each counts its bytes; the progress itself is always recorded
    for (let i = 0; i < HEAVY_LINES; i++)
      await ctx.progress(i / HEAVY_LINES, `${String(i).padStart(4, '0')} ${'p'.repeat(1_990)}`);
    await ctx.log('info', 'after the progress');
  } else if (value === 2) {
    for (const m of ['light one', 'light two', 'light three']) await ctx.log('info', m);
  } else if (value === 3 && run > 1) {
    await ctx.log('info', 'after the retry');
  } else {
    for (let i = 0; i < HEAVY_LINES / 2; i++) await ctx.log('info', LINE(i));
    await ctx.progress(0.5);
    for (let i = HEAVY_LINES / 2; i < HEAVY_LINES; i++) await ctx.log('info', LINE(i));
    if (value === 3)
      throw new TestTaskFailure({ code: 'TASK_FAILED', message: 'first run fails', retryable: false });
  }
  return { value } as JsonObject;
};

const logEntries = async (core: CoreHarness, jobId: string) =>
  (await core.redis.lrange(`${JOB_KEYS.job(jobId)}:log`, 0, -1)).map((raw) => ({
    raw,
    ev: JSON.parse(raw) as { t: string; m?: string },
  }));
const isTruncation = (e: { type: string; message?: string | null }) =>
  e.type === 'LOG' && /log truncated/.test(e.message ?? '');

describe('per-job log budget (real redis-server)', () => {
  const redis = redisPerSuite();
  let core: CoreHarness;
  let worker: TestWorker;
  let dropped: number;

  const start = async (jobLogMaxBytes: number) => {
    dropped = 0;
    runs.clear();
    const metrics = { ...NO_METRICS, logEventDropped: () => void dropped++ };
    core = await startCore(redis.url, { jobLogMaxBytes, metrics });
    worker = await new TestWorker({ url: redis.url, tasks, handlers: { 'test.emit': emit } }).start();
  };
  afterEach(async () => {
    await worker.stop();
    await core.close();
  });
  const submit = async (value: number) =>
    (await core.service.submitJob(TENANT, single('test.emit', { value }))).job.id;
  const done = (jobId: string, status = 'SUCCEEDED') =>
    waitForJob(core, TENANT, jobId, (v) => v.job.status === status);

  it('keeps the lines that fit, then one truncation event naming the budget; the job and its other events are intact', async () => {
    await start(BUDGET);
    const heavy = await submit(1);
    // a subscriber from the start sees what the log holds, truncation included
    const live = drain(await core.service.jobEvents(TENANT, heavy));
    const light = await submit(2);
    await done(heavy);
    await done(light);
    const seen: JobEvent[] = await live;

    const entries = await logEntries(core, heavy);
    const logs = entries.filter((e) => e.ev.t === 'LOG');
    const truncations = logs.filter((e) => /log truncated/.test(e.ev.m ?? ''));
    expect(truncations).toHaveLength(1);
    expect(truncations[0]!.ev.m).toContain(String(BUDGET));
    const kept = logs.filter((e) => !/log truncated/.test(e.ev.m ?? ''));
    // the budget counts the log events as stored: the kept ones fit it, and most of it is used
    const keptBytes = kept.reduce((n, e) => n + Buffer.byteLength(e.raw), 0);
    expect(keptBytes).toBeLessThanOrEqual(BUDGET);
    expect(keptBytes).toBeGreaterThan(BUDGET - 5_000);
    // the first lines, in order; the truncation comes right after the last kept one
    expect(kept.map((e) => e.ev.m!.slice(7, 11))).toEqual(kept.map((_, i) => String(i).padStart(4, '0')));
    expect(kept.length).toBeLessThan(HEAVY_LINES);
    expect(dropped).toBe(HEAVY_LINES - kept.length);

    // nothing but log lines is dropped: every other event of the job is there, in order
    const events = await allEvents(core, heavy);
    expect(events.filter((e) => e.type !== 'LOG').map((e) => e.type)).toEqual([
      'JOB_QUEUED',
      'NODE_QUEUED',
      'JOB_STARTED',
      'NODE_STARTED',
      'NODE_PROGRESS',
      'NODE_SUCCEEDED',
      'JOB_SUCCEEDED',
    ]);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(seen.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    expect(seen.filter(isTruncation)).toHaveLength(1);

    // another job of the same tenant keeps all of its lines
    const lightLogs = (await allEvents(core, light)).filter((e) => e.type === 'LOG').map((e) => e.message);
    expect(lightLogs).toEqual(['[info] light one', '[info] light two', '[info] light three']);
  });

  it('a retried job does not get a new budget: its later lines are dropped, with no second truncation event', async () => {
    await start(BUDGET);
    const jobId = await submit(3);
    await done(jobId, 'FAILED');
    const droppedBefore = dropped;
    expect(droppedBefore).toBeGreaterThan(0);
    await core.service.retryJob(TENANT, jobId);
    await done(jobId);
    const events = await allEvents(core, jobId);
    expect(events.filter(isTruncation)).toHaveLength(1);
    expect(events.some((e) => e.message?.includes('after the retry'))).toBe(false);
    expect(events.at(-1)!.type).toBe('JOB_SUCCEEDED');
    expect(dropped).toBe(droppedBefore + 1);
  });

  it('counts progress messages in the budget: past it each progress is kept without its message, and log lines are dropped', async () => {
    await start(16 * 1024);
    const jobId = await submit(4);
    await done(jobId);
    const events = await allEvents(core, jobId);
    const progress = events.filter((e) => e.type === 'NODE_PROGRESS');
    // every progress is there, in order, with its fraction
    expect(progress.map((e) => e.progress)).toEqual(
      [...Array(HEAVY_LINES).keys()].map((i) => i / HEAVY_LINES),
    );
    const withMessage = progress.filter((e) => e.message);
    // ~2,000 bytes each: the first 8 fit 16 KiB, the rest lose their message
    expect(withMessage.map((e) => e.message!.slice(0, 4))).toEqual([
      '0000',
      '0001',
      '0002',
      '0003',
      '0004',
      '0005',
      '0006',
      '0007',
    ]);
    const truncations = events.filter(isTruncation);
    expect(truncations).toHaveLength(1);
    expect(truncations[0]!.message).toContain(String(16 * 1024));
    // the truncation follows the first progress that lost its message
    expect(events.indexOf(truncations[0]!)).toBe(events.indexOf(progress[withMessage.length]!) + 1);
    expect(events.some((e) => e.message?.includes('after the progress'))).toBe(false);
    expect(dropped).toBe(1);
    expect(events.at(-1)!.type).toBe('JOB_SUCCEEDED');
  });

  it('JOB_LOG_MAX_BYTES=0 turns the budget off: every line is kept', async () => {
    await start(0);
    const jobId = await submit(1);
    await done(jobId);
    const logs = (await allEvents(core, jobId)).filter((e) => e.type === 'LOG');
    expect(logs).toHaveLength(HEAVY_LINES);
    expect(logs.filter(isTruncation)).toHaveLength(0);
    expect(dropped).toBe(0);
  });
});
