import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ChecksumMismatchError, SizeMismatchError } from './errors.js';

/**
 * Passes bytes through unchanged while counting them and computing their sha256. With `maxBytes`, fails with
 * SizeMismatchError as soon as more bytes than that arrive.
 */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  private digest: string | undefined;

  constructor(private readonly maxBytes?: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.count += chunk.length;
    if (this.maxBytes !== undefined && this.count > this.maxBytes)
      return done(new SizeMismatchError(this.maxBytes, this.count));
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.digest = this.hash.digest('hex');
    done();
  }

  get bytes(): number {
    return this.count;
  }

  /** The hex sha256 of everything that passed; only after the stream ended. */
  get sha256(): string {
    if (this.digest === undefined) throw new Error('sha256 read before the stream ended');
    return this.digest;
  }
}

/**
 * Passes an artifact's bytes through and fails the stream at the end (SizeMismatchError,
 * ChecksumMismatchError) unless exactly `size` bytes with that sha256 went by, so a reader never takes
 * other bytes for the recorded artifact. An empty `sha256` checks only the size.
 */
export class VerifyingStream extends HashingStream {
  constructor(private readonly expected: { size: number; sha256: string }) {
    super(expected.size);
  }

  override _flush(done: TransformCallback): void {
    super._flush((err) => {
      if (err) return done(err);
      if (this.bytes !== this.expected.size)
        return done(new SizeMismatchError(this.expected.size, this.bytes));
      if (this.expected.sha256 !== '' && this.sha256 !== this.expected.sha256)
        return done(new ChecksumMismatchError(this.expected.sha256, this.sha256));
      done();
    });
  }
}
