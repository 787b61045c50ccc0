import type { JobError, JsonObject, NodeReport } from '#libs/contracts';
import { currentTraceparent } from '#libs/observability';
import type { NodePayloadRef } from './node-payload.js';
import type { ReportSink } from './report-sink.js';

type Distribute<T> = T extends unknown
  ? Omit<T, 'jobId' | 'tenant' | 'nodeId' | 'attempt' | 'workerId' | 'at' | 'traceparent'>
  : never;
type ReportBody = Distribute<NodeReport>;

/**
 * The reports of one attempt, written in order (a progress never overtakes the terminal report).
 * Progress updates waiting behind a slow write are coalesced to the latest one; logs and the terminal
 * report are never dropped. When a write is undeliverable, `onBroken` fires once and later writes reject.
 */
export class AttemptReporter {
  private chain: Promise<void> = Promise.resolve();
  private pendingProgress?: { body: ReportBody };
  private broken?: Error;
  /** The attempt's trace context (the active span at construction), carried by every report. */
  private readonly traceparent = currentTraceparent();

  constructor(
    private readonly sink: Pick<ReportSink, 'send'>,
    private readonly ref: NodePayloadRef,
    private readonly workerId: string,
    private readonly onBroken: (err: Error) => void,
  ) {}

  started(actorId: string): Promise<void> {
    return this.enqueue({ type: 'started', actorId });
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

  succeeded(outputs: JsonObject, artifactIds: string[]): Promise<void> {
    return this.enqueue({ type: 'succeeded', outputs, artifactIds });
  }

  failed(error: JobError): Promise<void> {
    return this.enqueue({ type: 'failed', error });
  }

  released(reason: string): Promise<void> {
    return this.enqueue({ type: 'released', reason });
  }

  private enqueue(body: ReportBody | (() => ReportBody)): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.broken) throw this.broken;
      const b = typeof body === 'function' ? body() : body;
      try {
        await this.sink.send(
          {
            ...this.ref,
            ...(this.traceparent ? { traceparent: this.traceparent } : {}),
            workerId: this.workerId,
            at: new Date().toISOString(),
            ...b,
          } as NodeReport,
          true,
        );
      } catch (e) {
        this.broken = e as Error;
        this.onBroken(this.broken);
        throw e;
      }
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}
