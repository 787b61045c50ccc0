import { createServer, connect, type Socket } from 'node:net';

/** A loopback TCP proxy whose client-to-server direction can be slowed down (a slow or congested link). */
export interface DelayProxy {
  port: number;
  /** Delay added to every chunk a client sends, from now on (0: none); order is kept. */
  delayMs: number;
  /** Stops listening and closes every connection through it. */
  close(): Promise<void>;
}

/**
 * Forwards loopback connections on its own port to `targetPort`. When the target goes away (a SIGKILLed
 * redis-server) the client's connection is closed too, as a real one would be, and a client that reconnects
 * while nothing listens there is closed at once. Lets a test hold back what one client sends, e.g. to show what
 * another connection sees before a command of the first reaches the server.
 */
export async function startDelayProxy(targetPort: number): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    return s;
  };
  const proxy: DelayProxy = { port: 0, delayMs: 0, close: async () => undefined };
  const server = createServer((client) => {
    track(client);
    const upstream = track(connect({ port: targetPort, host: '127.0.0.1' }));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.once('close', end);
    upstream.once('close', end);
    client.on('error', end);
    upstream.on('error', end);
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    // each chunk leaves `delayMs` after it came, and never before the one ahead of it
    let ahead = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      const due = Date.now() + proxy.delayMs;
      ahead = ahead.then(async () => {
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (!upstream.destroyed) upstream.write(chunk);
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  proxy.port = (server.address() as { port: number }).port;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return proxy;
}
