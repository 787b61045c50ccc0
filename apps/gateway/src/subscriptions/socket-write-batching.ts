import type { Socket } from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';

/**
 * Frames sent to one client close together leave in ONE write: the client's TCP socket is corked at the first
 * send and uncorked by `flush()` — called by the forwarder once a shared stream has handed the events that
 * reached it to all of their subscribers, or by `flushHeldLongerThan` within a long burst — or, for every other
 * send, in the check phase (setImmediate). An
 * event that reaches many subscriptions of one connection (10 jobFeed subscriptions per dashboard) is one write
 * system call per connection, not one per subscription. Order, framing and send callbacks are ws's own (a
 * callback fires once its frame is written, i.e. after the uncork).
 *
 * Why an explicit flush: the check phase comes after every microtask of the turn. When a job ends, its last
 * events are followed in the same turn by the end of every subscription to it (graphql-ws's complete, slot
 * releases): with 1,000 subscribers the last events waited ≈ 100 ms for that work before they were written.
 */
export class SocketWriteBatching {
  private readonly corked = new Set<Socket>();
  private scheduled = false;
  /** When the oldest frame not yet written was sent (ms, `now()`). */
  private heldSince = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Batches the writes of every connection `wss` accepts from now on. */
  attach(wss: WebSocketServer): void {
    wss.on('connection', (ws: WebSocket) => {
      const raw = (ws as unknown as { _socket?: Socket })._socket;
      if (!raw || typeof raw.cork !== 'function') return;
      const send = ws.send.bind(ws) as (...args: unknown[]) => void;
      ws.send = ((...args: unknown[]) => {
        if (!this.corked.has(raw) && raw.writable) {
          raw.cork();
          if (this.corked.size === 0) this.heldSince = this.now();
          this.corked.add(raw);
          if (!this.scheduled) {
            this.scheduled = true;
            setImmediate(() => {
              this.scheduled = false;
              this.flush();
            });
          }
        }
        send(...args);
      }) as WebSocket['send'];
    });
  }

  /** Writes what was sent so far to every client (one write per connection). */
  flush(): void {
    if (this.corked.size === 0) return;
    for (const raw of this.corked) raw.uncork();
    this.corked.clear();
  }

  /**
   * `flush()` when the oldest frame held has waited at least `ms`: within a long burst of events (a fan-out
   * to 10,000 subscribers takes tens of ms), frames do not wait for the whole burst, and events close together
   * still share a write.
   */
  flushHeldLongerThan(ms: number): void {
    if (this.corked.size > 0 && this.now() - this.heldSince >= ms) this.flush();
  }
}
