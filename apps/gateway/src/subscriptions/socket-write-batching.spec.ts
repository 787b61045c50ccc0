import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { SocketWriteBatching } from './socket-write-batching.js';

/** A real ws server on loopback with the batching attached, and one client connected to it. */
describe('SocketWriteBatching', () => {
  let http: Server;
  let wss: WebSocketServer;
  let batching: SocketWriteBatching;
  let clock = 0;
  let serverSide: WebSocket;
  let client: WebSocket;
  const received: string[] = [];

  beforeEach(async () => {
    received.length = 0;
    http = createServer();
    wss = new WebSocketServer({ server: http });
    clock = 0;
    batching = new SocketWriteBatching(() => clock);
    batching.attach(wss);
    const connected = new Promise<WebSocket>((r) => wss.once('connection', r));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
    client.on('message', (d) => received.push(String(d)));
    serverSide = await connected;
  });

  afterEach(async () => {
    client.terminate();
    await new Promise((r) => wss.close(r));
    await new Promise((r) => http.close(r));
  });

  const raw = () => (serverSide as unknown as { _socket: Socket })._socket;
  const until = async (fn: () => boolean) => {
    for (let i = 0; i < 250 && !fn(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(fn()).toBe(true);
  };

  it('holds the frames of a connection until flush(), which hands them to the kernel at once', async () => {
    serverSide.send('one');
    serverSide.send('two');
    expect(raw().writableCorked).toBe(1); // corked once for both frames
    expect(raw().writableLength).toBeGreaterThan(0); // still in the stream's buffer
    batching.flush();
    expect(raw().writableCorked).toBe(0);
    expect(raw().writableLength).toBe(0); // written in this same step, not at the end of the turn
    await until(() => received.length === 2);
    expect(received).toEqual(['one', 'two']);
  });

  it('flushHeldLongerThan writes only once the oldest held frame has waited that long', async () => {
    clock = 100;
    serverSide.send('first');
    clock = 101;
    serverSide.send('second');
    batching.flushHeldLongerThan(2); // held 1 ms
    expect(raw().writableCorked).toBe(1);
    clock = 102;
    batching.flushHeldLongerThan(2); // the first frame has waited 2 ms: both go
    expect(raw().writableCorked).toBe(0);
    expect(raw().writableLength).toBe(0);
    await until(() => received.length === 2);
    // a new batch counts from its own first frame
    clock = 200;
    serverSide.send('third');
    clock = 201;
    batching.flushHeldLongerThan(2);
    expect(raw().writableCorked).toBe(1);
    batching.flush();
    await until(() => received.length === 3);
    expect(received).toEqual(['first', 'second', 'third']);
  });

  it('without a flush, what was sent leaves at the end of the turn', async () => {
    serverSide.send('alone');
    expect(raw().writableCorked).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(raw().writableCorked).toBe(0);
    await until(() => received.length === 1);
    // a later send corks again (a new batch)
    serverSide.send('again');
    expect(raw().writableCorked).toBe(1);
    batching.flush();
    await until(() => received.length === 2);
    expect(received).toEqual(['alone', 'again']);
  });
});
