import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { CompletionTracker } from '../support/completion-tracker.js';

const FEED = 'subscription Feed { jobFeed { jobId type at } }';

interface FeedEvent {
  jobId: string;
  type: string;
  at: string;
}

/**
 * The tenant's `jobFeed` through the gateway (graphql-ws), the way a dashboard sees jobs finish: JOB_SUCCEEDED
 * settles the job in the tracker, JOB_FAILED/JOB_CANCELLED fail it (and the run). JOB_STARTED's `at` (the
 * scheduler's time of the node's start) is kept per job for the submit → start latency. A feed that errors or
 * ends during the run fails every job still waited for: no event may be missed silently.
 */
export class JobFeed {
  readonly tracker: CompletionTracker;
  /** jobId → epoch ms of JOB_STARTED (cleared with `forgetStarts`). */
  readonly startedAt = new Map<string, number>();
  /** Set when the subscription broke; the run is invalid. */
  broken: string | null = null;
  private constructor(
    private readonly client: Client,
    private readonly unsubscribe: () => void,
    tracker: CompletionTracker,
  ) {
    this.tracker = tracker;
  }

  static async open(wsUrl: string, key: string, jobTimeoutMs: number): Promise<JobFeed> {
    const client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: 0,
      lazy: false,
    });
    const tracker = new CompletionTracker(jobTimeoutMs);
    // the handlers need the feed, which needs the unsubscribe function: a holder breaks the cycle
    const holder: { feed?: JobFeed } = {};
    let acknowledged!: () => void;
    const subscribed = new Promise<void>((r) => (acknowledged = r));
    const unsubscribe = client.subscribe<{ jobFeed: FeedEvent }>(
      { query: FEED },
      {
        next: (msg) => {
          const e = msg.data?.jobFeed;
          if (!e) {
            holder.feed?.breakWith(`a jobFeed message without data: ${JSON.stringify(msg.errors ?? msg)}`);
            return;
          }
          if (e.type === 'JOB_SUCCEEDED') tracker.done(e.jobId);
          else if (e.type === 'JOB_FAILED' || e.type === 'JOB_CANCELLED') tracker.fail(e.jobId, e.type);
          else if (e.type === 'JOB_STARTED') holder.feed?.startedAt.set(e.jobId, Date.parse(e.at));
        },
        error: (err) => holder.feed?.breakWith(`jobFeed failed: ${describe(err)}`),
        complete: () => holder.feed?.breakWith('jobFeed ended during the run'),
      },
    );
    const feed = new JobFeed(client, unsubscribe, tracker);
    holder.feed = feed;
    // graphql-ws has no "subscribed" callback: the server registers the subscription right after the
    // connection ack; a short pause after it keeps the first jobs from racing the registration.
    client.on('connected', () => acknowledged());
    await subscribed;
    await new Promise((r) => setTimeout(r, 500));
    return feed;
  }

  forgetStarts(): void {
    this.startedAt.clear();
  }

  async close(): Promise<void> {
    this.broken ??= 'closed';
    this.unsubscribe();
    await this.client.dispose();
  }

  private breakWith(reason: string): void {
    if (this.broken) return;
    this.broken = reason;
    this.tracker.failAll(reason);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (Array.isArray(err)) return err.map((e: { message?: string }) => e.message ?? String(e)).join('; ');
  const close = err as { code?: number; reason?: string };
  if (close && typeof close.code === 'number') return `socket closed ${close.code} ${close.reason ?? ''}`;
  return JSON.stringify(err);
}
