import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { verifyIdentity } from '#libs/auth';
import { waitFor } from '#libs/testing';
import { UpstreamPool } from './upstream-pool.js';

const SECRET = 'test-identity-secret-0123456789abcdef';
const identity = { tenant: 'acme', keyId: 'k1', scopes: ['jobs:read' as const] };

/**
 * A graphql-transport-ws peer that acknowledges and then goes silent: it never answers a ping (a frozen
 * process, a half-open TCP connection). The pool must notice and reconnect on its own.
 */
async function silentPeer() {
  const server = createServer();
  const wss = new WebSocketServer({ server, handleProtocols: () => 'graphql-transport-ws' });
  const connections: { socket: WebSocket; identity: string }[] = [];
  let subscribes = 0;
  wss.on('connection', (socket) => {
    socket.on('message', (raw) => {
      const msg = JSON.parse(String(raw)) as { type: string; payload?: { identity?: string } };
      if (msg.type === 'connection_init') {
        connections.push({ socket, identity: msg.payload?.identity ?? '' });
        socket.send(JSON.stringify({ type: 'connection_ack' }));
      }
      if (msg.type === 'subscribe') subscribes++;
      // pings and subscribes go unanswered
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  return {
    url,
    connections,
    /** Subscribe messages received, on any connection. */
    subscribes: () => subscribes,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('UpstreamPool', () => {
  it('terminates a peer that stops answering pings and reconnects with a freshly signed identity', async () => {
    const peer = await silentPeer();
    const dead: string[] = [];
    const pool = new UpstreamPool({
      urls: { jobs: peer.url },
      identitySecret: SECRET,
      pingIntervalMs: 150,
      retryBaseMs: 20,
      retryMaxMs: 50,
      retryAttempts: 10,
      idleCloseMs: 50,
      events: { deadPeer: (s) => void dead.push(s) },
    });
    const stop = pool.subscribe(
      'jobs',
      identity,
      { query: 'subscription { x }', variables: {} },
      {
        next: () => undefined,
        error: () => undefined,
        complete: () => undefined,
      },
    );
    const deadline = Date.now() + 5_000;
    while (peer.connections.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(dead).toContain('jobs');
    expect(peer.connections.length).toBeGreaterThanOrEqual(2);
    for (const c of peer.connections) expect(verifyIdentity(c.identity, SECRET)).toMatchObject(identity);
    stop();
    await pool.close();
    await peer.close();
  });

  it('shares one connection per identity and subgraph, and closes it when idle', async () => {
    const peer = await silentPeer();
    const pool = new UpstreamPool({
      urls: { jobs: peer.url },
      identitySecret: SECRET,
      pingIntervalMs: 60_000,
      retryBaseMs: 20,
      retryMaxMs: 50,
      retryAttempts: 3,
      idleCloseMs: 50,
    });
    const sink = { next: () => undefined, error: () => undefined, complete: () => undefined };
    const a = pool.subscribe('jobs', identity, { query: 'subscription { a }', variables: {} }, sink);
    const b = pool.subscribe('jobs', identity, { query: 'subscription { b }', variables: {} }, sink);
    const c = pool.subscribe(
      'jobs',
      { ...identity, keyId: 'k2' },
      { query: 'subscription { c }', variables: {} },
      sink,
    );
    // Polled, not slept on (300 ms was tight on a loaded CI machine): once all three subscribes have arrived,
    // every connection they use is open.
    await waitFor(() => peer.subscribes() === 3, { timeoutMs: 5_000, what: 'three subscribes at the peer' });
    expect(peer.connections.length).toBe(2); // k1 shares one, k2 has its own
    expect(pool.connectionCount).toBe(2);
    a();
    b();
    c();
    // idleCloseMs is 50: closed within seconds, or never (waitFor throws)
    await waitFor(() => pool.connectionCount === 0, { timeoutMs: 5_000, what: 'idle connections to close' });
    expect(pool.connectionCount).toBe(0);
    await pool.close();
    await peer.close();
  });
});
