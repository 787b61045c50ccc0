import { Readable } from 'node:stream';

/**
 * The error of a transfer that moved no byte for `ms`: coded like a network timeout, so it is retried and then
 * becomes StorageUnavailableError.
 */
export function noProgressError(operation: string, ms: number): Error {
  return Object.assign(new Error(`${operation}: no progress for ${ms} ms`), { code: 'OPERATION_TIMEOUT' });
}

/**
 * The body handed to the S3 client: `source`'s bytes, failing with a no-progress error when `source` gives no
 * byte for `ms` while more is asked for. The clock runs only while the client waits on the source; while the
 * client is busy sending (it asks for nothing), the request's own inactivity timeout applies
 * (tracked-transport.ts). Destroying it destroys `source`.
 */
export class ProgressGuard extends Readable {
  private readonly reader: AsyncIterator<unknown>;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: Readable,
    private readonly ms: number,
    private readonly operation: string,
  ) {
    super();
    this.reader = source[Symbol.asyncIterator]();
  }

  override _read(): void {
    this.timer = setTimeout(() => this.destroy(noProgressError(this.operation, this.ms)), this.ms);
    this.reader.next().then(
      (next) => {
        clearTimeout(this.timer);
        if (!this.destroyed) this.push(next.done ? null : next.value);
      },
      (e: unknown) => {
        clearTimeout(this.timer);
        this.destroy(e as Error);
      },
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.source.destroy();
    done(err);
  }

  /**
   * Readable.pipe passes no error on, and minio's multipart reader pipes its body into its part splitter: without
   * this it would wait for the next part forever.
   */
  override pipe<T extends NodeJS.WritableStream>(dest: T, options?: { end?: boolean }): T {
    this.once('error', (e) => (dest as unknown as { destroy?(e: Error): void }).destroy?.(e));
    return super.pipe(dest, options);
  }
}
