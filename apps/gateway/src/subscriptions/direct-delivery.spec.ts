import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { KeyBufferBudgets } from './buffered-bytes.js';
import { CLIENT_HIGH_WATER_BYTES, ClientConnection } from './direct-delivery.js';

/** A real ws server on loopback, one client connected to it; the client's socket is paused to stop reading. */
describe('ClientConnection: the bytes of frames its socket has not taken yet', () => {
  let http: Server;
  let wss: WebSocketServer;
  let serverSide: WebSocket;
  let client: WebSocket;
  let clientSocket: Socket;
  let received = 0;

  beforeEach(async () => {
    received = 0;
    http = createServer();
    wss = new WebSocketServer({ server: http });
    const connected = new Promise<WebSocket>((r) => wss.once('connection', r));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
    client.on('message', () => received++);
    serverSide = await connected;
    if (client.readyState !== WebSocket.OPEN) await new Promise((r) => client.once('open', r));
    clientSocket = (client as unknown as { _socket: Socket })._socket;
  });

  afterEach(async () => {
    client.terminate();
    await new Promise((r) => wss.close(r));
    await new Promise((r) => http.close(r));
  });

  const until = async (fn: () => boolean) => {
    for (let i = 0; i < 500 && !fn(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(fn()).toBe(true);
  };
  const payload = (n: number) => JSON.stringify({ data: { x: 'y'.repeat(n) } });

  /** Sends frames of ~64 KB until the socket reports backed up (the kernel's buffers full first). */
  async function fillUntilBackedUp(sink: ReturnType<ClientConnection['sink']>): Promise<number> {
    let sent = 0;
    while (sink.ready()) {
      expect(sink.next(payload(64 * 1024))).toBeNull();
      sent++;
      if (sent % 16 === 0) await new Promise((r) => setImmediate(r)); // let the socket write out
      expect(sent).toBeLessThan(2_000);
    }
    return sent;
  }

  it('holds them against the key until written out, and gives them back as the client reads', async () => {
    const budgets = new KeyBufferBudgets({ perKey: 64 * 1024 * 1024, total: 0 });
    const connection = new ClientConnection(serverSide, budgets.for('K'));
    const sink = connection.sink('1');
    clientSocket.pause();
    const sent = await fillUntilBackedUp(sink);
    // what node holds for the socket is what the key holds (the rest went into the kernel's buffers)
    expect(serverSide.bufferedAmount).toBeGreaterThanOrEqual(CLIENT_HIGH_WATER_BYTES);
    expect(budgets.usedBy('K')).toBe(connection.heldBytes);
    expect(connection.heldBytes).toBeGreaterThanOrEqual(CLIENT_HIGH_WATER_BYTES);
    clientSocket.resume();
    await until(() => received === sent);
    await until(() => budgets.usedBy('K') === 0);
    expect(budgets.keys).toBe(0);
  });

  it('refuses a frame past the bound (nothing sent), and gives back all it holds when the connection closes', async () => {
    const budgets = new KeyBufferBudgets({ perKey: 2 * CLIENT_HIGH_WATER_BYTES, total: 0 });
    const first = new ClientConnection(serverSide, budgets.for('K'));
    clientSocket.pause();
    await fillUntilBackedUp(first.sink('1'));
    const held = budgets.usedBy('K');
    expect(held).toBeGreaterThan(0);
    // a frame that passes the key's bound: refused, not written
    const refused = first.sink('2').next(payload(2 * CLIENT_HIGH_WATER_BYTES));
    expect(refused).toMatchObject({ limit: 'bufferedBytesPerKey', max: 2 * CLIENT_HIGH_WATER_BYTES });
    expect(budgets.usedBy('K')).toBe(held);
    const closed = new Promise((r) => serverSide.once('close', r));
    client.terminate();
    await closed;
    expect(budgets.usedBy('K')).toBe(0);
    expect(first.heldBytes).toBe(0);
    expect(first.sink('3').next(payload(10))).toBeNull(); // closed: nothing sent, nothing taken
    expect(budgets.keys).toBe(0);
  });
});
