import type { Socket } from 'node:net';
import type { ExecutionResult } from 'graphql';
import type { WebSocket } from 'ws';

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
  /** Sends `{"id":…,"type":"next","payload":<payloadJson>}`. */
  next(payloadJson: string): void;
}

/** One client connection: its socket and the drain waiters of all its subscriptions (one listener). */
export class ClientConnection {
  private waiters: (() => void)[] = [];
  private readonly raw: Socket | undefined;

  constructor(private readonly ws: WebSocket) {
    this.raw = (ws as unknown as { _socket?: Socket })._socket;
    const wake = () => {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    };
    this.raw?.on('drain', wake);
    ws.once('close', wake);
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /** A sink for subscription `id` of this connection. */
  sink(id: string): DirectSink {
    const prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
    return {
      ready: () => !this.open || this.ws.bufferedAmount < CLIENT_HIGH_WATER_BYTES,
      whenReady: () => new Promise<void>((resolve) => this.waiters.push(resolve)),
      next: (payloadJson) => {
        // a closing connection: graphql-ws ends every subscription of it; nothing more to say
        if (this.open) this.ws.send(`${prefix}${payloadJson}}`);
      },
    };
  }
}

/**
 * The JSON of a shared event, made once for every subscriber of it (the item object is shared by all members
 * of a stream). Only results without errors: errors go through graphql-ws's onNext, which formats them.
 */
const serialised = new WeakMap<object, string>();
export function payloadJson(result: ExecutionResult): string {
  let json = serialised.get(result);
  if (json === undefined) {
    json = JSON.stringify(result);
    serialised.set(result, json);
  }
  return json;
}
