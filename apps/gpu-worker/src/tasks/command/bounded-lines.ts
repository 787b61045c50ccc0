const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into lines (`\n`, `\r\n` or a lone `\r`, as readline does with crlfDelay Infinity) while
 * holding at most `maxBytes` of the current line: the rest of a longer line is counted, not kept, and the line
 * ends with a marker saying how long it was. readline buffers a line whole, so a command printing gigabytes
 * without a newline grew the runner's heap until it died.
 */
export class BoundedLineSplitter {
  private parts: Buffer[] = [];
  private kept = 0;
  /** Bytes of the current line, kept or not. */
  private total = 0;
  /** The last chunk ended in `\r`: a `\n` starting the next one belongs to that line end. */
  private skipLf = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let pos = 0;
    if (this.skipLf && chunk.length > 0) {
      this.skipLf = false;
      if (chunk[0] === LF) pos = 1;
    }
    // indexOf runs in native code: a long line costs no per-byte JavaScript
    let nextLf = chunk.indexOf(LF, pos);
    let nextCr = chunk.indexOf(CR, pos);
    for (;;) {
      const end = nextLf === -1 ? nextCr : nextCr === -1 ? nextLf : Math.min(nextLf, nextCr);
      if (end === -1) {
        this.keep(chunk.subarray(pos));
        return;
      }
      this.keep(chunk.subarray(pos, end));
      this.emit();
      pos = end + 1;
      if (chunk[end] === CR) {
        if (pos === chunk.length) this.skipLf = true;
        else if (chunk[pos] === LF) pos++;
      }
      if (nextLf !== -1 && nextLf < pos) nextLf = chunk.indexOf(LF, pos);
      if (nextCr !== -1 && nextCr < pos) nextCr = chunk.indexOf(CR, pos);
    }
  }

  /** The stream ended: a last line without a line end still counts (as readline does, when not empty). */
  end(): void {
    if (this.total > 0) this.emit();
  }

  private keep(bytes: Buffer): void {
    this.total += bytes.length;
    const room = this.maxBytes - this.kept;
    if (room <= 0 || bytes.length === 0) return;
    // copied: a slice would pin the whole chunk it came from
    const part = Buffer.from(bytes.subarray(0, room));
    this.parts.push(part);
    this.kept += part.length;
  }

  private emit(): void {
    // a multi-byte character cut at the bound decodes as U+FFFD
    const text = Buffer.concat(this.parts, this.kept).toString('utf8');
    const line = this.total > this.kept ? `${text}… [line cut: ${this.total} bytes]` : text;
    this.parts = [];
    this.kept = 0;
    this.total = 0;
    this.onLine(line);
  }
}
