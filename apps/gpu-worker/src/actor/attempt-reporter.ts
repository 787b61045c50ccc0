import type { JobError, JsonObject, NodeReport } from '#libs/contracts';
import { currentTraceparent } from '#libs/observability';
import type { NodePayloadRef } from './node-payload.js';
import type { ReportSink } from './report-sink.js';

type Distribute<T> = T extends unknown
  ? Omit<T, 'jobId' | 'tenant' | 'nodeId' | 'attempt' | 'workerId' | 'at' | 'traceparent'>
  : never;
type ReportBody = Distribute<NodeReport>;

/** A `started` report held back for a moment, to go in one write with the attempt's next report. */
interface HeldStarted {
  body: ReportBody;
  at: string;
  timer: NodeJS.Timeout;
  settle: (p: Promise<unknown>) => void;
}

/**
 * The reports of one attempt, written in order (a progress never overtakes the terminal report).
 * Progress updates waiting behind a slow write are coalesced to the latest one; logs and the terminal
 * report are never dropped. When a write is undeliverable, `onBroken` fires once and later writes reject.
 * `started` may linger up to `startedLingerMs` (its `at` is when it was called): a short attempt's end
 * then goes in the same write (one socket write and round trip instead of two, for the scheduler one read).
 */
export class AttemptReporter {
  private chain: Promise<void> = Promise.resolve();
  private pendingProgress?: { body: ReportBody };
  private held?: HeldStarted;
  private broken?: Error;
  /** The attempt's trace context (the active span at construction), carried by every report. */
  private readonly traceparent = currentTraceparent();

  constructor(
    private readonly sink: Pick<ReportSink, 'send'>,
    private readonly ref: NodePayloadRef,
    private readonly workerId: string,
    private readonly onBroken: (err: Error) => void,
    private readonly startedLingerMs = 0,
  ) {}

  started(actorId: string): Promise<void> {
    const body: ReportBody = { type: 'started', actorId };
    if (this.startedLingerMs <= 0) return this.enqueue(body);
    const at = new Date().toISOString();
    return new Promise<void>((resolve, reject) => {
      this.held = {
        body,
        at,
        timer: setTimeout(() => this.releaseStarted(), this.startedLingerMs),
        settle: (p) => p.then(() => resolve(), reject),
      };
    });
  }

  progress(progress: number, message?: string): void {
    const body: ReportBody = { type: 'progress', progress, ...(message ? { message } : {}) };
    if (this.pendingProgress) {
      this.pendingProgress.body = body; // not written yet: replace with the newer value
      return;
    }
    const slot = { body };
    this.pendingProgress = slot;
    void this.enqueue(() => {
      this.pendingProgress = undefined;
      return slot.body;
    }).catch(() => undefined);
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    void this.enqueue({ type: 'log', level, message }).catch(() => undefined);
  }

  /** `ranMs`: how long the task ran on its runner (the scheduler sizes leases by it). */
  succeeded(outputs: JsonObject, artifactIds: string[], ranMs?: number): Promise<void> {
    return this.enqueue({
      type: 'succeeded',
      outputs,
      artifactIds,
      ...ranMsField(ranMs),
    });
  }

  /** `ranMs`: only when the attempt ran (its `started` was sent): none for a refusal before the run. */
  failed(error: JobError, ranMs?: number): Promise<void> {
    return this.enqueue({ type: 'failed', error, ...ranMsField(ranMs) });
  }

  /** `ranMs`: as for failed(). */
  released(reason: string, ranMs?: number): Promise<void> {
    return this.enqueue({ type: 'released', reason, ...ranMsField(ranMs) });
  }

  /** The held `started` goes on its own (its linger is over). */
  private releaseStarted(): void {
    const held = this.takeHeld();
    if (held) held.settle(this.enqueue(held.body, held));
  }

  private takeHeld(): HeldStarted | undefined {
    const held = this.held;
    if (!held) return undefined;
    this.held = undefined;
    clearTimeout(held.timer);
    return held;
  }

  /**
   * Queues a report behind the attempt's earlier ones. A held `started` goes first, handed to the sink in
   * the same turn (so in the same pipeline): the sink writes them in order, and gives up every later
   * report of the attempt if `started` cannot be written.
   */
  private enqueue(body: ReportBody | (() => ReportBody), startedAt?: HeldStarted): Promise<void> {
    const held = startedAt ? undefined : this.takeHeld();
    const next = this.chain.then(async () => {
      if (this.broken) {
        held?.settle(Promise.reject(this.broken));
        throw this.broken;
      }
      const b = typeof body === 'function' ? body() : body;
      try {
        if (held) {
          const first = this.write(held.body, held.at);
          held.settle(first);
          await Promise.all([first, this.write(b)]);
        } else await this.write(b, startedAt?.at);
      } catch (e) {
        this.broken ??= e as Error;
        if (this.broken === e) this.onBroken(this.broken);
        throw e;
      }
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  private write(b: ReportBody, at = new Date().toISOString()): Promise<string> {
    return this.sink.send(
      {
        ...this.ref,
        ...(this.traceparent ? { traceparent: this.traceparent } : {}),
        workerId: this.workerId,
        at,
        ...b,
      } as NodeReport,
      true,
    );
  }
}

const ranMsField = (ranMs: number | undefined): { ranMs?: number } =>
  ranMs === undefined ? {} : { ranMs: Math.max(0, Math.round(ranMs)) };
