import { createServer, connect, type Socket } from 'node:net';

/** At most `bytes` every `everyMs` (a slow link that still moves). */
export interface Pace {
  bytes: number;
  everyMs: number;
}

/** How one direction of a proxied connection is held back. */
export interface LinkControl {
  /** Nothing is passed on while true, and the sender is no longer read (its writes back up): a stalled link. */
  hold: boolean;
  /** Set: what is passed on is paced (the sender backs up behind it). */
  pace?: Pace;
}

/** A loopback TCP proxy whose client-to-server direction can be slowed down (a slow or congested link). */
export interface DelayProxy {
  port: number;
  /** Delay added to every chunk a client sends, from now on (0: none); order is kept. */
  delayMs: number;
  /** What clients send to the server (requests, upload bodies). */
  readonly toServer: LinkControl;
  /** What the server sends back (replies, download bodies). */
  readonly toClient: LinkControl;
  /** Client connections open now (one closed by the client or the server is gone). */
  readonly connections: number;
  /** Stops listening and closes every connection through it. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Passes what `from` sends to `to`, in order, each chunk no earlier than `delayMs()` after it came, held back or
 * paced as `link` says. `from` is read only as fast as it is passed on (a backlog of a pace, or 1 MiB), so a held
 * or paced sender backs up as on a real slow link instead of filling the proxy.
 */
function relay(from: Socket, to: Socket, link: LinkControl, delayMs: () => number): void {
  const backlog: Array<{ chunk: Buffer; due: number }> = [];
  let backlogBytes = 0;
  let pumping = false;
  const room = () => (link.hold ? 0 : (link.pace?.bytes ?? 1024 * 1024)) - backlogBytes;
  const pump = async () => {
    if (pumping) return;
    pumping = true;
    while (backlog.length > 0 && !to.destroyed) {
      const wait = backlog[0]!.due - Date.now();
      if (link.hold || wait > 0) {
        await sleep(link.hold ? 10 : wait);
        continue;
      }
      const pace = link.pace;
      // one chunk, or with a pace up to its bytes from the due chunks ahead
      let left = pace ? pace.bytes : backlog[0]!.chunk.length;
      while (left > 0 && backlog.length > 0 && backlog[0]!.due <= Date.now()) {
        const next = backlog[0]!;
        const piece = next.chunk.subarray(0, left);
        to.write(piece);
        left -= piece.length;
        backlogBytes -= piece.length;
        if (piece.length < next.chunk.length) next.chunk = next.chunk.subarray(piece.length);
        else backlog.shift();
      }
      if (room() > 0) from.resume();
      if (pace) await sleep(pace.everyMs);
    }
    pumping = false;
    if (room() > 0) from.resume();
  };
  from.on('data', (chunk: Buffer) => {
    // a delay alone keeps reading (each chunk's delay counts from when it was sent)
    backlog.push({ chunk, due: Date.now() + delayMs() });
    backlogBytes += chunk.length;
    if (room() <= 0) from.pause();
    void pump();
  });
}

/**
 * Forwards loopback connections on its own port to `targetPort`. When the target goes away (a SIGKILLed
 * redis-server) the client's connection is closed too, as a real one would be, and a client that reconnects
 * while nothing listens there is closed at once. Lets a test hold back what one client sends, e.g. to show what
 * another connection sees before a command of the first reaches the server, or stall or slow a transfer either
 * way.
 */
export async function startDelayProxy(targetPort: number): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    return s;
  };
  const proxy: DelayProxy = {
    port: 0,
    delayMs: 0,
    toServer: { hold: false },
    toClient: { hold: false },
    get connections() {
      return clients.size;
    },
    close: async () => undefined,
  };
  const server = createServer((client) => {
    track(client);
    clients.add(client);
    client.once('close', () => clients.delete(client));
    const upstream = track(connect({ port: targetPort, host: '127.0.0.1' }));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.once('close', end);
    upstream.once('close', end);
    client.on('error', end);
    upstream.on('error', end);
    relay(upstream, client, proxy.toClient, () => 0);
    relay(client, upstream, proxy.toServer, () => proxy.delayMs);
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
