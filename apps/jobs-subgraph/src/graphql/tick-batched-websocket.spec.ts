import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { waitFor } from '#libs/testing';
import { EARLY_ACK_LIMIT_BYTES, TickBatchedWebSocket } from './tick-batched-websocket.js';

/** Sends as graphql-ws does: one message, then wait for its callback, then the next. */
const sendAwaited = (ws: WebSocket, data: string) =>
  new Promise<void>((resolve, reject) => ws.send(data, (e) => (e ? reject(e) : resolve())));

describe('TickBatchedWebSocket', () => {
  let http: Server;
  let wss: WebSocketServer;
  let connected: Promise<{ ws: TickBatchedWebSocket; writes: () => number }>;

  beforeEach(async () => {
    http = createServer();
    wss = new WebSocketServer({ server: http, WebSocket: TickBatchedWebSocket });
    TickBatchedWebSocket.attachTo(wss);
    connected = new Promise((resolve) =>
      wss.once('connection', (ws: TickBatchedWebSocket, req: IncomingMessage) => {
        // counts the TCP socket's writes to the kernel (one per _write or _writev)
        const socket = req.socket as Socket & Record<'_write' | '_writev', (...a: unknown[]) => void>;
        let writes = 0;
        for (const m of ['_write', '_writev'] as const) {
          const original = socket[m].bind(socket);
          socket[m] = (...a: unknown[]) => {
            writes++;
            original(...a);
          };
        }
        resolve({ ws, writes: () => writes });
      }),
    );
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  });
  afterEach(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
    await new Promise((r) => http.close(r));
  });

  /** Until `fn` holds or 5 s passed; the assertions after it say what was wrong. */
  const settled = (fn: () => boolean) =>
    waitFor(fn, { timeoutMs: 5_000, intervalMs: 10 }).catch(() => undefined);

  const client = async () => {
    const { port } = http.address() as AddressInfo;
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    const received: string[] = [];
    ws.on('message', (m) => received.push(String(m)));
    await new Promise((r) => ws.once('open', r));
    return { ws, received };
  };

  it('sends the messages of one tick in one write, in order, each acknowledged', async () => {
    const { ws: c, received } = await client();
    const { ws, writes } = await connected;
    const before = writes();
    for (let i = 0; i < 20; i++) await sendAwaited(ws, `event ${i}`);
    await new Promise((r) => setImmediate(r));
    expect(writes() - before).toBe(1);
    const expected = Array.from({ length: 20 }, (_, i) => `event ${i}`);
    // polled up to 5 s (was 100 × 10 ms: about 1 s, tight on a loaded machine); the check below says what came
    await settled(() => received.length >= 20);
    expect(received).toEqual(expected);
    c.close();
  });

  it(`past ${EARLY_ACK_LIMIT_BYTES} bytes waiting, a callback waits for the write again`, async () => {
    const { ws: c, received } = await client();
    const { ws } = await connected;
    const acked: string[] = [];
    ws.send('x'.repeat(EARLY_ACK_LIMIT_BYTES + 1), () => acked.push('big'));
    ws.send('small', () => acked.push('small'));
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(acked).toEqual(['big']);
    await settled(() => acked.length >= 2);
    expect(acked).toEqual(['big', 'small']);
    await settled(() => received.length >= 2);
    expect(received.at(-1)).toBe('small');
    c.close();
  });
});
