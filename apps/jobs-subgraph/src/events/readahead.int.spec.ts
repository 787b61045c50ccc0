import { Redis } from 'ioredis';
import { ByteBudgets } from '#libs/backpressure';
import type { JobEvent, NodeReport } from '#libs/contracts';
import { startRedis, type RedisHandle } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { drain, reportFields } from '../../test/scenario.js';
import { EventLog } from './event-log.js';
import { EventSubscriptions } from './job-events.js';
import { eventBytes } from './subscriber-buffer.js';
import { Wakeups } from './wakeups.js';

const KIB = 1024;
const PER_TENANT = 256 * KIB;
const LOGS = 150;
/** ~3 KB log lines: 150 of them are ~450 KB per replay. */
const LINE = 'x'.repeat(3000);

/**
 * A subscriber that does not read (a direct API key's client that stopped reading its socket) made its follower
 * read up to SUBSCRIBER_BUFFER (512) events ahead from Redis, each up to 8 KB of log line: ≈ 4 MB per
 * subscription, for up to 1,000 subscriptions per key. With a readahead budget per tenant, its followers hold back
 * once the tenant's bytes are spent, and nothing is lost: the rest stays in the stream.
 */
describe('readahead bytes per tenant (real redis-server)', () => {
  let server: RedisHandle;
  let core: CoreHarness;
  let subscriber: Redis;
  let manifestOnly: TestWorker;
  let readahead: ByteBudgets;
  let subscriptions: EventSubscriptions;

  beforeAll(async () => {
    server = await startRedis();
    core = await startCore(server.url, { startConsumer: false });
    manifestOnly = new TestWorker({ url: server.url, tasks: Object.values(TEST_TASKS), handlers: {} });
    await manifestOnly.publishManifest();
    subscriber = new Redis(server.url, { maxRetriesPerRequest: null });
    readahead = new ByteBudgets({ perOwner: PER_TENANT, total: 0 });
    subscriptions = new EventSubscriptions(new EventLog(core.redis), new Wakeups(subscriber, core.logger), {
      bufferCapacity: 512,
      readahead,
    });
  });
  afterAll(async () => {
    await manifestOnly.stop();
    subscriber.disconnect();
    await core.close();
    await server.stop();
  });

  /** A finished one-node job of `tenant` with LOGS log lines of ~3 KB. */
  async function loggedJob(tenant: string): Promise<{ jobId: string; events: JobEvent[] }> {
    const { job } = await core.service.submitJob(tenant, {
      graph: { nodes: [{ id: 'n', task: 'test.slow', inputs: { ms: 1 } }] },
    });
    const base = reportFields(job.id, tenant, { nodeId: 'n' });
    await core.scheduler.applyReport({ ...base, type: 'started', actorId: 'a' });
    for (let i = 0; i < LOGS; i++)
      await core.scheduler.applyReport({ ...base, type: 'log', level: 'info', message: `${i} ${LINE}` });
    await core.scheduler.applyReport({
      ...base,
      type: 'succeeded',
      outputs: { slept: 1 },
      artifactIds: [],
    } as NodeReport);
    const events = (await new EventLog(core.redis).jobEventsAfter(job.id, 0, 10_000)).map((e) => e.event);
    expect(events.length).toBeGreaterThan(LOGS);
    return { jobId: job.id, events };
  }

  it("holds back a tenant's followers past its bytes, reads on as they are taken, loses nothing, gives every byte back", async () => {
    const { jobId, events } = await loggedJob('hoarder');
    const total = events.reduce((n, e) => n + eventBytes(e), 0);
    expect(total).toBeGreaterThan(PER_TENANT);
    const largest = Math.max(...events.map(eventBytes));
    // ten subscribers that read nothing yet
    const followers = await Promise.all(
      Array.from({ length: 10 }, () => subscriptions.jobEvents(jobId, 0, 'hoarder')),
    );
    // without the budget each would hold the whole replay (10 × ~450 KB); now the bound, passed by at most one small
    // read (8 events) per follower that had nothing
    const held = readahead.usedBy('hoarder');
    expect(held).toBeLessThanOrEqual(PER_TENANT + 10 * 8 * largest);
    expect(held).toBeLessThan(total);
    expect(followers.every((f) => f.buffered > 0)).toBe(true); // every one of them moves
    // what they hold, counted by events (each ~3 KB): far from 10 whole replays
    const buffered = followers.reduce((n, f) => n + f.buffered, 0);
    expect(buffered * 3000).toBeLessThanOrEqual(PER_TENANT + 10 * 8 * largest);

    // another tenant is not held back by it: its subscriber reads its whole replay meanwhile
    const other = await loggedJob('other');
    const otherFollower = await subscriptions.jobEvents(other.jobId, 0, 'other');
    expect((await drain(otherFollower)).map((e) => e.seq)).toEqual(other.events.map((e) => e.seq));
    expect(readahead.usedBy('other')).toBe(0);
    expect(readahead.usedBy('hoarder')).toBe(held);

    // taken: each gets every event, in order (log lines never coalesce), none twice
    const got = await Promise.all(followers.map((f) => drain(f)));
    for (const g of got) expect(g.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    expect(readahead.usedBy('hoarder')).toBe(0);
  });

  it('a subscriber that leaves gives back what was read ahead for it', async () => {
    const { jobId } = await loggedJob('leaver');
    const follower = await subscriptions.jobEvents(jobId, 0, 'leaver');
    expect(readahead.usedBy('leaver')).toBeGreaterThan(0);
    await follower.next();
    await follower.return();
    expect(readahead.usedBy('leaver')).toBe(0);
    expect(readahead.owners).toBe(0);
  });
});
