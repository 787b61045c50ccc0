import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { BufferBudget, BufferBudgetExceeded } from './buffered-bytes.js';

/** Bytes queued towards one client past which its subscriptions stop writing and let their buffers fill. */
export const CLIENT_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * Where a forwarded subscription writes its events itself, instead of handing each one back to graphql-ws's
 * per-subscription loop (an async-iterator step, an onNext hook, a JSON.stringify of the whole message and a
 * send promise per subscriber and event). The frames are graphql-ws's own `next` messages, byte for byte.
 */
export interface DirectSink {
  /** Whether the client takes more now (its socket is open and not backed up). */
  ready(): boolean;
  /** Resolves once the client took what was queued (or the connection closed). */
  whenReady(): Promise<void>;
  /**
   * Sends `{"id":…,"type":"next","payload":<payloadJson>}`, its bytes held against the connection's key
   * (buffered-bytes.ts) until the socket has taken them. A frame they do not fit is not sent: the refusal says
   * which bound (null: sent, or nothing to send to a closing connection).
   */
  next(payloadJson: string): BufferBudgetExceeded | null;
}

/**
 * One client connection: its socket, the drain waiters of all its subscriptions (one listener), and the bytes
 * of the frames written to it that the socket has not taken yet, held against its key's budget: a client that
 * stops reading leaves up to CLIENT_HIGH_WATER_BYTES (and a frame) in node's send buffer per connection, for up to
 * MAX_CONNECTIONS_PER_KEY connections.
 */
export class ClientConnection {
  private waiters: (() => void)[] = [];
  private readonly raw: Socket | undefined;
  /** Bytes of frames sent and not yet written out (given back by ws's send callback, or all at the close). */
  private held = 0;
  /** The sizes of those frames, oldest first: a socket calls its write callbacks in write order. */
  private readonly unwritten: number[] = [];
  /** One callback for every frame (not a closure per frame: node batches the calls of one function). */
  private readonly written = () => {
    const size = this.unwritten.shift();
    if (size === undefined) return; // closed: given back already
    this.held -= size;
    this.budget!.give(size);
  };

  constructor(
    private readonly ws: WebSocket,
    private readonly budget?: BufferBudget,
  ) {
    this.raw = (ws as unknown as { _socket?: Socket })._socket;
    const wake = () => {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    };
    this.raw?.on('drain', wake);
    ws.once('close', () => {
      // whatever is still unwritten goes with the socket (a callback after this finds no size: gives nothing back)
      this.budget?.give(this.held);
      this.held = 0;
      this.unwritten.length = 0;
      wake();
    });
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /** Bytes of frames sent to this client that its socket has not taken yet (for tests). */
  get heldBytes(): number {
    return this.held;
  }

  /** A sink for subscription `id` of this connection. */
  sink(id: string): DirectSink {
    const prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
    return {
      ready: () => !this.open || this.ws.bufferedAmount < CLIENT_HIGH_WATER_BYTES,
      whenReady: () => new Promise<void>((resolve) => this.waiters.push(resolve)),
      next: (payloadJson) => {
        // a closing connection: graphql-ws ends every subscription of it; nothing more to say
        if (!this.open) return null;
        const frame = `${prefix}${payloadJson}}`;
        if (!this.budget) {
          this.ws.send(frame);
          return null;
        }
        const size = frame.length;
        const refused = this.budget.tryTake(size);
        if (refused) return refused;
        this.held += size;
        this.unwritten.push(size);
        this.ws.send(frame, this.written);
        return null;
      },
    };
  }
}
