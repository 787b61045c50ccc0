import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { CompletionTracker } from '../support/completion-tracker.js';
import { benchAttemptPayload } from '../support/attempt-payload.js';

const QUEUE = 'bench-e2e-peer';
/** The retention the scheduler's BullmqEnqueuer asks for, so both keep finished jobs alike. */
const RETENTION = {
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
};

/**
 * The yardstick: raw BullMQ on the stack's own redis-server. A Queue adds a job (data shaped like a node
 * attempt), a Worker at `concurrency` completes it at once (recording when its processor started), and
 * QueueEvents — how a BullMQ client learns that a job finished — settles the tracker. All of it runs in this
 * process, so the bench process's CPU during a peer run is the peer's CPU.
 */
export class BullmqE2ePeer {
  private seq = 0;

  private constructor(
    private readonly queue: Queue,
    private readonly worker: Worker,
    private readonly events: QueueEvents,
    private readonly connections: Redis[],
    readonly tracker: CompletionTracker,
    /** jobId → epoch ms at which the worker's processor started it. */
    readonly startedAt: Map<string, number>,
  ) {}

  static async start(url: string, concurrency: number, jobTimeoutMs: number): Promise<BullmqE2ePeer> {
    const [command, blocking, eventsConnection] = Array.from(
      { length: 3 },
      () => new Redis(url, { maxRetriesPerRequest: null }),
    ) as [Redis, Redis, Redis];
    const tracker = new CompletionTracker(jobTimeoutMs);
    const startedAt = new Map<string, number>();
    const queue = new Queue(QUEUE, { connection: command });
    // from the stream's first entry: nothing completed before the first XREAD can be missed
    const events = new QueueEvents(QUEUE, { connection: eventsConnection, lastEventId: '0-0' });
    events.on('completed', ({ jobId }) => tracker.done(jobId));
    events.on('failed', ({ jobId, failedReason }) => tracker.fail(jobId, `BullMQ failed: ${failedReason}`));
    const worker = new Worker(
      QUEUE,
      async (job) => {
        startedAt.set(job.id!, Date.now());
        return {};
      },
      { connection: blocking, concurrency },
    );
    worker.on('error', (e) => console.error(`peer worker error: ${e.message}`));
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);
    return new BullmqE2ePeer(
      queue,
      worker,
      events,
      [command, blocking, eventsConnection],
      tracker,
      startedAt,
    );
  }

  readonly submit = async (i: number): Promise<string> => {
    const jobId = `e2e-peer-${++this.seq}`;
    await this.queue.add('bench.noop', benchAttemptPayload(jobId, 'test.sleep', { ms: 0, i }), {
      jobId,
      attempts: 1,
      ...RETENTION,
    });
    return jobId;
  };

  async stop(): Promise<void> {
    await this.worker.close();
    await this.events.close();
    await this.queue.close();
    await Promise.all(this.connections.map((c) => c.quit().catch(() => c.disconnect())));
  }
}
