import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { NodeReport, REDIS_KEYS, parseReportEntry } from '#libs/contracts';
import { createRedis, quitRedis } from '#libs/redis';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { AttemptReporter } from './attempt-reporter.js';
import { ReportSink, ReportUndeliverableError } from './report-sink.js';

const connected = async (r: Redis) => {
  if (r.status !== 'ready') await new Promise((ok) => r.once('ready', ok));
};
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const ref = { jobId: 'j1', tenant: 'acme', nodeId: 'a', attempt: 1 };

describe('ReportSink and AttemptReporter (real Redis)', () => {
  let redis: RedisHandle;
  let command: Redis;
  let reader: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    command = createRedis({ url: redis.url, name: 'test:reports', role: 'command', logger: quiet });
    reader = new Redis(redis.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    await quitRedis(command);
    reader.disconnect();
    await redis.stop();
  });
  // the outage tests restart Redis and leave `command` reconnecting with backoff: a command connection has no
  // offline queue, so a test that wrote before it is back would see its short retry window run out
  beforeEach(async () => {
    await connected(command);
    await reader.del(REDIS_KEYS.reports);
  });

  const written = async () =>
    (await reader.xrange(REDIS_KEYS.reports, '-', '+')).flatMap(([, f]) => parseReportEntry(f));

  it('writes reports in order, coalescing progress queued behind a write', async () => {
    const sink = new ReportSink(command, { retryWindowMs: 1000 });
    const broken: Error[] = [];
    const r = new AttemptReporter(sink, ref, 'w1', (e) => broken.push(e));
    const started = r.started('w1/cpu0');
    for (let i = 1; i <= 10; i++) r.progress(i / 10, `step ${i}`);
    r.log('info', 'hello');
    await started;
    await r.succeeded({ out: 1 }, ['art1'], 12.4);
    const reports = await written();
    expect(reports[0]).toMatchObject({
      type: 'started',
      workerId: 'w1',
      jobId: 'j1',
      nodeId: 'a',
      attempt: 1,
    });
    expect(reports.at(-1)).toMatchObject({
      type: 'succeeded',
      outputs: { out: 1 },
      artifactIds: ['art1'],
      ranMs: 12, // how long it ran: the scheduler sizes leases by it
    });
    const progress = reports.filter((x) => x.type === 'progress');
    expect(progress.length).toBeLessThan(10); // coalesced while the first writes were in flight
    expect(progress.at(-1)).toMatchObject({ progress: 1, message: 'step 10' }); // never loses the latest
    expect(reports.map((x) => x.type)).toContain('log');
    expect(broken).toEqual([]);
  });

  it('writes every kind of report it builds in the NodeReport contract (written without a second parse)', async () => {
    const sink = new ReportSink(command, { retryWindowMs: 1000 });
    const r = new AttemptReporter(sink, ref, 'w1', () => undefined);
    await r.started('w1/cpu0');
    r.progress(0.5);
    r.log('warn', 'x'.repeat(8000));
    await r.failed({ code: 'TIMEOUT', message: 'over time', retryable: true });
    await r.released('worker draining');
    // written() parses each entry with NodeReport: a report outside the contract fails here
    expect((await written()).map((x) => x.type)).toEqual([
      'started',
      'progress',
      'log',
      'failed',
      'released',
    ]);
  });

  it('writes reports sent while a write is in flight together, in the order they were sent', async () => {
    const sink = new ReportSink(command, { retryWindowMs: 5000 });
    const at = new Date().toISOString();
    const sent: string[] = [];
    const writes: Array<Promise<string>> = [];
    for (let i = 0; i < 40; i++) {
      const jobId = `batch-${i % 4}`;
      const type = i < 4 ? 'started' : i >= 36 ? 'succeeded' : 'log';
      sent.push(`${jobId}:${type}:${i}`);
      const base = { ...ref, jobId, workerId: 'w', at };
      writes.push(
        sink.send(
          type === 'started'
            ? { ...base, type, actorId: 'w/cpu0' }
            : type === 'log'
              ? { ...base, type, level: 'info', message: String(i) }
              : { ...base, type, outputs: { i }, artifactIds: [] },
        ),
      );
    }
    const ids = await Promise.all(writes);
    expect(new Set(ids).size).toBe(40);
    const stream = (await reader.xrange(REDIS_KEYS.reports, '-', '+')).flatMap(([id, f]) =>
      parseReportEntry(f).map((r) => ({ id, r })),
    );
    expect(stream.map((e) => e.id)).toEqual(ids); // each send resolved with its own entry's id
    expect(stream.map(({ r }) => `${r.jobId}:${r.type}`)).toEqual(sent.map((x) => x.replace(/:\d+$/, '')));
    const logs = stream.flatMap(({ r }) => (r.type === 'log' ? [Number(r.message)] : []));
    expect(logs).toEqual([...logs].sort((a, b) => a - b));
  });

  it('puts adjacent reports of one attempt in one entry, keeping the order of all', async () => {
    const sink = new ReportSink(command, { retryWindowMs: 1000 });
    const at = new Date().toISOString();
    const a = { ...ref, jobId: 'ea', workerId: 'w', at };
    const b = { ...ref, jobId: 'eb', workerId: 'w', at };
    const ids = await Promise.all([
      sink.send({ ...a, type: 'started', actorId: 'w/cpu0' }),
      sink.send({ ...a, type: 'log', level: 'info', message: 'one' }),
      sink.send({ ...b, type: 'started', actorId: 'w/cpu1' }),
      sink.send({ ...a, type: 'succeeded', outputs: {}, artifactIds: [] }),
    ]);
    const entries = await reader.xrange(REDIS_KEYS.reports, '-', '+');
    const of = ([, f]: [string, string[]]) => parseReportEntry(f).map((r) => `${r.jobId}:${r.type}`);
    expect(entries.map(of)).toEqual([['ea:started', 'ea:log'], ['eb:started'], ['ea:succeeded']]);
    expect(ids).toEqual([entries[0]![0], entries[0]![0], entries[1]![0], entries[2]![0]]);
  });

  it('keeps the order through an outage: what was queued behind a failed write follows it', async () => {
    const sink = new ReportSink(command, { retryWindowMs: 10_000, baseDelayMs: 50, maxDelayMs: 200 });
    const r1 = new AttemptReporter(sink, { ...ref, jobId: 'o1' }, 'w', () => undefined);
    const r2 = new AttemptReporter(sink, { ...ref, jobId: 'o2' }, 'w', () => undefined);
    await redis.kill('SIGKILL');
    const all = [r1.started('w/cpu0'), r2.started('w/cpu1')];
    all.push(r1.succeeded({ a: 1 }, []), r2.failed({ code: 'TASK_FAILED', message: 'x', retryable: true }));
    await new Promise((r) => setTimeout(r, 500));
    await redis.restart();
    await Promise.all(all);
    const reports = await written();
    const of = (jobId: string) => reports.filter((x) => x.jobId === jobId).map((x) => x.type);
    expect(of('o1')).toEqual(['started', 'succeeded']);
    expect(of('o2')).toEqual(['started', 'failed']);
  });

  it('refuses a report that breaks the contract', async () => {
    const sink = new ReportSink(command, { retryWindowMs: 100 });
    await expect(
      sink.send({
        ...ref,
        workerId: 'w',
        at: new Date().toISOString(),
        type: 'progress',
        progress: 3,
      } as NodeReport),
    ).rejects.toThrow(/NodeReport: progress/);
  });

  it('retries through a short outage, then gives up visibly after the window', async () => {
    const retries: number[] = [];
    const sink = new ReportSink(command, {
      retryWindowMs: 8000,
      onRetry: (_r, tries) => retries.push(tries),
    });
    await redis.kill('SIGKILL');
    const pending = sink.send({
      ...ref,
      workerId: 'w',
      at: new Date().toISOString(),
      type: 'released',
      reason: 'test',
    });
    // until it has retried at least once (polled: a fixed 800 ms was an assumption about a loaded machine)
    await waitFor(() => retries.length > 0, { timeoutMs: 5_000, what: 'a retry during the outage' });
    await redis.restart();
    await pending;
    expect(retries.length).toBeGreaterThan(0);
    expect((await written()).map((x) => x.type)).toEqual(['released']);

    const short = new ReportSink(command, { retryWindowMs: 600 });
    await redis.kill('SIGKILL');
    const broken: Error[] = [];
    const r = new AttemptReporter(short, ref, 'w1', (e) => broken.push(e));
    await expect(r.failed({ code: 'STUCK', message: 'x', retryable: true })).rejects.toBeInstanceOf(
      ReportUndeliverableError,
    );
    expect(broken).toHaveLength(1);
    await expect(r.succeeded({}, [])).rejects.toBeInstanceOf(ReportUndeliverableError); // the attempt stays failed
    await redis.restart();
  });

  it('a lingering started goes in one stream entry with the attempt end, keeping its own time', async () => {
    // its own connection: nothing else (a reconnect after the outage tests) writes on it
    const own = createRedis({ url: redis.url, name: 'test:linger', role: 'command', logger: quiet });
    await connected(own); // a command connection has no offline queue: a write before would fail and be retried
    const sink = new ReportSink(own, { retryWindowMs: 1000 });
    const pipelines = jest.spyOn(own, 'pipeline');
    const xadds = jest.spyOn(own, 'xadd');
    try {
      const r = new AttemptReporter(sink, ref, 'w1', () => undefined, 5_000);
      const startedAt = Date.now();
      const started = r.started('w1/cpu0');
      await new Promise((res) => setTimeout(res, 30));
      await r.succeeded({ ok: true }, []);
      await started;
      expect(xadds).toHaveBeenCalledTimes(1); // one XADD, one entry: the scheduler reads and acknowledges one
      expect(pipelines).not.toHaveBeenCalled();
      const [s1, s2] = await written();
      expect([s1!.type, s2!.type]).toEqual(['started', 'succeeded']);
      expect(Math.abs(Date.parse(s1!.at) - startedAt)).toBeLessThan(25); // when it started, not when written
      expect(Date.parse(s2!.at)).toBeGreaterThanOrEqual(Date.parse(s1!.at) + 25);
    } finally {
      pipelines.mockRestore();
      xadds.mockRestore();
      await quitRedis(own);
    }
  });

  it('a lingering started goes alone once its linger is over', async () => {
    const sink = new ReportSink(command, { retryWindowMs: 1000 });
    const r = new AttemptReporter(sink, ref, 'w1', () => undefined, 50);
    const started = r.started('w1/cpu0');
    await new Promise((res) => setTimeout(res, 20));
    expect(await written()).toEqual([]);
    await started;
    expect((await written()).map((x) => x.type)).toEqual(['started']);
  });

  it('gives up the attempt end queued behind a started it could not write (nothing written after)', async () => {
    const own = createRedis({ url: redis.url, name: 'test:give-up', role: 'command', logger: quiet });
    await connected(own);
    const sink = new ReportSink(own, { retryWindowMs: 500, baseDelayMs: 50, maxDelayMs: 100 });
    const broken: Error[] = [];
    const r = new AttemptReporter(sink, ref, 'w1', (e) => broken.push(e), 5_000);
    const other = new AttemptReporter(sink, { ...ref, jobId: 'other' }, 'w1', () => undefined);
    await redis.kill('SIGKILL');
    const started = r.started('w1/cpu0');
    const end = r.succeeded({}, []);
    await expect(started).rejects.toBeInstanceOf(ReportUndeliverableError);
    await expect(end).rejects.toBeInstanceOf(ReportUndeliverableError);
    expect(broken).toHaveLength(1);
    await redis.restart();
    await connected(own);
    await other.started('w1/cpu1'); // another attempt's reports still go
    expect((await written()).map((x) => `${x.jobId}:${x.type}`)).toEqual(['other:started']);
    await quitRedis(own);
  });
});
