import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { CompletionTracker } from '../support/completion-tracker.js';
import { benchAttemptPayload } from '../support/attempt-payload.js';

const QUEUE = 'bench-peer';
/** The same retention the scheduler's BullmqEnqueuer asks for, so memory per job compares like with like. */
const RETENTION = {
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
};

/**
 * The peer: raw BullMQ. A Queue adds jobs (data shaped like a node attempt, so payload size is not the
 * difference), a Worker completes them at once, and QueueEvents — how a BullMQ client learns that a job
 * finished — tells the tracker.
 */
export class BullmqPeer {
  readonly tracker: CompletionTracker;
  private seq = 0;

  private constructor(
    private readonly queue: Queue,
    private readonly worker: Worker,
    private readonly events: QueueEvents,
    private readonly connections: Redis[],
    tracker: CompletionTracker,
  ) {
    this.tracker = tracker;
  }

  static async start(url: string, concurrency: number, jobTimeoutMs: number): Promise<BullmqPeer> {
    const command = new Redis(url, { maxRetriesPerRequest: null });
    const blocking = new Redis(url, { maxRetriesPerRequest: null });
    const eventsConnection = new Redis(url, { maxRetriesPerRequest: null });
    const tracker = new CompletionTracker(jobTimeoutMs);
    const queue = new Queue(QUEUE, { connection: command });
    // from the stream's first entry: nothing completed before the first XREAD can be missed
    const events = new QueueEvents(QUEUE, { connection: eventsConnection, lastEventId: '0-0' });
    events.on('completed', ({ jobId }) => tracker.done(jobId));
    events.on('failed', ({ jobId, failedReason }) => tracker.fail(jobId, `BullMQ failed: ${failedReason}`));
    const worker = new Worker(QUEUE, async () => ({}), { connection: blocking, concurrency });
    worker.on('error', (e) => console.error(`peer worker error: ${e.message}`));
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);
    return new BullmqPeer(queue, worker, events, [command, blocking, eventsConnection], tracker);
  }

  readonly submit = async (i: number): Promise<string> => {
    const jobId = `peer-${++this.seq}`;
    const data = benchAttemptPayload(jobId, 'bench.emit', { value: i });
    await this.queue.add('bench.emit', data, { jobId, attempts: 1, ...RETENTION });
    return jobId;
  };

  async stop(): Promise<void> {
    await this.worker.close();
    await this.events.close();
    await this.queue.close();
    await Promise.all(this.connections.map((c) => c.quit().catch(() => c.disconnect())));
  }
}
