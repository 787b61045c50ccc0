import { Redis } from 'ioredis';
import { NodeReport, REDIS_KEYS } from '#libs/contracts';
import { createRedis, quitRedis } from '#libs/redis';
import { startRedis, type RedisHandle } from '#libs/testing';
import { AttemptReporter } from './attempt-reporter.js';
import { ReportSink, ReportUndeliverableError } from './report-sink.js';

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
  beforeEach(() => reader.del(REDIS_KEYS.reports));

  const written = async () =>
    (await reader.xrange(REDIS_KEYS.reports, '-', '+')).map(([, f]) => NodeReport.parse(JSON.parse(f[1]!)));

  it('writes reports in order, coalescing progress queued behind a write', async () => {
    const sink = new ReportSink(command, { retryWindowMs: 1000 });
    const broken: Error[] = [];
    const r = new AttemptReporter(sink, ref, 'w1', (e) => broken.push(e));
    const started = r.started('w1/cpu0');
    for (let i = 1; i <= 10; i++) r.progress(i / 10, `step ${i}`);
    r.log('info', 'hello');
    await started;
    await r.succeeded({ out: 1 }, ['art1']);
    const reports = await written();
    expect(reports[0]).toMatchObject({
      type: 'started',
      workerId: 'w1',
      jobId: 'j1',
      nodeId: 'a',
      attempt: 1,
    });
    expect(reports.at(-1)).toMatchObject({ type: 'succeeded', outputs: { out: 1 }, artifactIds: ['art1'] });
    const progress = reports.filter((x) => x.type === 'progress');
    expect(progress.length).toBeLessThan(10); // coalesced while the first writes were in flight
    expect(progress.at(-1)).toMatchObject({ progress: 1, message: 'step 10' }); // never loses the latest
    expect(reports.map((x) => x.type)).toContain('log');
    expect(broken).toEqual([]);
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
    await new Promise((r) => setTimeout(r, 800));
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
});
