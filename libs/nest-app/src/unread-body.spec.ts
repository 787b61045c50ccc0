import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { UNREAD_CLOSE_DELAY_MS, closeIfAnsweredUnread, stopReading } from './unread-body.js';

/** What a client still sending its body saw, in ms from its first write. */
interface Seen {
  text: string;
  answeredAt?: number;
  /** The server's FIN. */
  endedAt?: number;
  /** The first failed write or read (the server's reset). */
  failedAt?: number;
  closedAt?: number;
}

/**
 * A server that refuses every request with 413 before reading its body, through `refuse` (the two ways the rule
 * is applied), and records how many bytes it read off each connection.
 */
async function refusingServer(
  refuse: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ port: number; bytesRead: Promise<number>; close(): Promise<void> }> {
  let read!: (n: number) => void;
  const bytesRead = new Promise<number>((r) => (read = r));
  const server: Server = createServer((req, res) => {
    req.socket.once('close', () => read(req.socket.bytesRead));
    refuse(req, res);
    res.writeHead(413, { 'content-type': 'text/plain' });
    res.end('too large');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    bytesRead,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * Declares 50 MB and keeps sending 64 KiB every 5 ms, also after the answer and the server's FIN (a half-open
 * socket: it does not end its side on FIN), for at most 4 s.
 */
function sendForever(port: number): Promise<Seen> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const seen: Seen = { text: '' };
    const started = Date.now();
    const since = () => Date.now() - started;
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (d: Buffer) => {
      seen.answeredAt ??= since();
      seen.text += d.toString('latin1');
    });
    socket.on('end', () => (seen.endedAt ??= since()));
    socket.on('error', () => (seen.failedAt ??= since()));
    socket.on('close', () => {
      seen.closedAt = since();
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve(seen);
    });
    const giveUp = setTimeout(() => socket.destroy(), 4000);
    socket.on('connect', () => {
      socket.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000000\r\n\r\n');
      const chunk = Buffer.alloc(64 * 1024, 'x');
      socket.write(chunk);
      timer = setInterval(() => {
        if (!socket.destroyed) socket.write(chunk, () => undefined);
      }, 5);
    });
  });
}

/**
 * A connection refused over a body still arriving: FIN right after the answer, the socket closed
 * UNREAD_CLOSE_DELAY_MS later, nothing read off meanwhile. Closing at once (node's way) resets a client that is
 * still sending within milliseconds of the answer, and such a client can lose the answer to that reset.
 */
describe.each([
  ['an answer started before the body arrived (closeIfAnsweredUnread)', closeIfAnsweredUnread],
  ['a step that stopped reading (stopReading)', stopReading],
] as const)('%s', (_name, refuse) => {
  it(`closes gently: FIN with the answer, no reset for ${UNREAD_CLOSE_DELAY_MS} ms, the rest unread`, async () => {
    const server = await refusingServer(refuse);
    try {
      const seen = await sendForever(server.port);
      expect(seen.text).toMatch(/^HTTP\/1\.1 413 /);
      expect(seen.text).toMatch(/\r\nConnection: close\r\n/i);
      const answeredAt = seen.answeredAt!;
      expect(seen.endedAt! - answeredAt).toBeLessThan(1000);
      // the client's writes went on being taken until the server closed its socket: no reset before the delay
      expect(seen.failedAt ?? seen.closedAt!).toBeGreaterThanOrEqual(answeredAt + UNREAD_CLOSE_DELAY_MS - 50);
      // and then it did close (not the client's own 4 s give-up)
      expect(seen.failedAt).toBeDefined();
      expect(seen.failedAt!).toBeLessThan(answeredAt + UNREAD_CLOSE_DELAY_MS + 2500);
      // at 12.8 MB/s the delay would read off megabytes: the server read the head and what came with it
      expect(await server.bytesRead).toBeLessThan(512 * 1024);
    } finally {
      await server.close();
    }
  });
});
