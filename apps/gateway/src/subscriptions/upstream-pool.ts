import type { FormattedExecutionResult } from 'graphql';
import { createClient, type Client, type Sink } from 'graphql-ws';
import WebSocket from 'ws';
import { signIdentity } from '#libs/auth';
import { backoffDelayMs } from '#libs/redis';
import type { Identity } from '#libs/contracts';

export interface UpstreamRequest {
  query: string;
  /** Mutated by the forwarder as events arrive (the resume cursor); graphql-ws re-sends this very object on reconnect. */
  variables: Record<string, unknown>;
  operationName?: string;
}

/** What the forwarder needs from a transport: one subscription to one subgraph, on behalf of one identity. */
export interface UpstreamTransport {
  subscribe(
    serviceName: string,
    identity: CallerIdentity,
    request: UpstreamRequest,
    sink: Sink<FormattedExecutionResult>,
  ): () => void;
}

export type CallerIdentity = Omit<Identity, 'exp'>;

/** Equal for identities a subgraph cannot tell apart (same tenant, key and scopes): one connection serves both. */
export const identityKey = (identity: CallerIdentity): string =>
  `${identity.tenant}\u0000${identity.keyId}\u0000${[...identity.scopes].sort().join(',')}`;

export interface UpstreamPoolEvents {
  connected(serviceName: string, reconnect: boolean): void;
  closed(serviceName: string, code: number | undefined, reason: string): void;
  deadPeer(serviceName: string): void;
}

export interface UpstreamPoolOptions {
  /** graphql-ws URL of each subgraph by service name. */
  urls: Record<string, string>;
  identitySecret: string;
  /** Client ping interval; a pong missing for as long again marks the peer dead. */
  pingIntervalMs: number;
  /** Reconnect backoff (the shared one of #libs/redis): base*2^(n+1), capped, with equal jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Consecutive failed reconnects before a subscription errors (the client then resumes itself). */
  retryAttempts: number;
  /** How long an idle connection stays open for the next subscription of the same identity. */
  idleCloseMs: number;
  events?: Partial<UpstreamPoolEvents>;
}

interface PooledClient {
  client: Client;
  subscriptions: number;
  disposeTimer?: NodeJS.Timeout;
}

/**
 * graphql-ws connections to the subgraphs, one per (subgraph, identity): subscriptions of the same caller
 * share a socket. Each connection signs a fresh identity when it (re)connects, reconnects with capped,
 * jittered backoff (graphql-ws re-subscribes every live subscription), pings, and terminates a peer that
 * stops answering so a silent network failure turns into a reconnect.
 */
export class UpstreamPool implements UpstreamTransport {
  private readonly clients = new Map<string, PooledClient>();
  private closed = false;

  constructor(private readonly options: UpstreamPoolOptions) {}

  get connectionCount(): number {
    return this.clients.size;
  }

  subscribe(
    serviceName: string,
    identity: CallerIdentity,
    request: UpstreamRequest,
    sink: Sink<FormattedExecutionResult>,
  ): () => void {
    if (this.closed) {
      sink.error(new Error('gateway is shutting down'));
      return () => {};
    }
    const key = `${serviceName}\u0000${identityKey(identity)}`;
    let pooled = this.clients.get(key);
    if (!pooled) {
      pooled = { client: this.createClient(serviceName, identity), subscriptions: 0 };
      this.clients.set(key, pooled);
    }
    const entry = pooled;
    clearTimeout(entry.disposeTimer);
    entry.subscriptions++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      entry.subscriptions--;
      if (entry.subscriptions === 0) {
        entry.disposeTimer = setTimeout(() => {
          if (entry.subscriptions === 0 && this.clients.get(key) === entry) {
            this.clients.delete(key);
            void entry.client.dispose();
          }
        }, this.options.idleCloseMs);
        entry.disposeTimer.unref();
      }
    };
    const unsubscribe = entry.client.subscribe(request, {
      next: (v) => sink.next(v as FormattedExecutionResult),
      error: (e) => {
        release();
        sink.error(e);
      },
      complete: () => {
        release();
        sink.complete();
      },
    });
    return () => {
      unsubscribe();
      release();
    };
  }

  /** Closes every upstream connection (their subscriptions complete). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(
      all.map(async (c) => {
        clearTimeout(c.disposeTimer);
        await c.client.dispose();
      }),
    );
  }

  private createClient(serviceName: string, identity: CallerIdentity): Client {
    const { urls, identitySecret, pingIntervalMs, retryBaseMs, retryMaxMs, retryAttempts, events } =
      this.options;
    const url = urls[serviceName];
    if (!url) throw new Error(`no graphql-ws URL for subgraph "${serviceName}"`);
    let socket: WebSocket | null = null;
    let pongDeadline: NodeJS.Timeout | undefined;
    return createClient({
      url,
      webSocketImpl: WebSocket,
      lazy: true,
      lazyCloseTimeout: 0,
      keepAlive: pingIntervalMs,
      retryAttempts,
      // Every close is worth a retry here: a restarting subgraph closes with 1001/1006.
      shouldRetry: () => true,
      retryWait: async (retries) => {
        // step retries + 1: the first wait is between base and twice it, as before never under base
        const ms = backoffDelayMs(retries + 1, { baseMs: retryBaseMs, capMs: retryMaxMs });
        await new Promise((r) => setTimeout(r, ms));
      },
      // Signed afresh on every (re)connect: the identity is short-lived.
      connectionParams: () => ({ identity: signIdentity(identity, identitySecret) }),
      on: {
        opened: (s) => {
          socket = s as WebSocket;
        },
        connected: (_s, _p, wasRetry) => events?.connected?.(serviceName, wasRetry),
        ping: (received) => {
          if (received) return;
          clearTimeout(pongDeadline);
          pongDeadline = setTimeout(() => {
            events?.deadPeer?.(serviceName);
            socket?.terminate();
          }, pingIntervalMs);
          pongDeadline.unref();
        },
        pong: (received) => {
          if (received) clearTimeout(pongDeadline);
        },
        closed: (event) => {
          clearTimeout(pongDeadline);
          socket = null;
          const e = event as { code?: number; reason?: string };
          events?.closed?.(serviceName, e?.code, String(e?.reason ?? ''));
        },
      },
    });
  }
}
