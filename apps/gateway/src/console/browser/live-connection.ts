// One graphql-ws connection per signed-in key, with a connection state the page always shows, and
// subscriptions that resume from their last cursor: graphql-ws re-sends a subscription's payload object on
// every reconnect, so updating `variables.after` in that object as events arrive makes the resubscribe start
// right after the last event shown (no gap, no repeat).
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createClient, type Client } from 'graphql-ws';
import { ApiError, graphqlUrl, source } from './api-client.js';

export type ConnectionState =
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'reconnecting'; attempt: number; nextTryAt: number | null; reason: string }
  | { kind: 'resumed'; at: number }
  | { kind: 'offline'; reason: string };

const FORBIDDEN = 4403; // the gateway's close code for a missing, invalid or revoked key
const RESUMED_SHOWN_MS = 4000;

const closeReason = (e: unknown): string => {
  const c = e as { code?: number; reason?: string };
  if (typeof c?.code === 'number') return `closed ${c.code}${c.reason ? `: ${c.reason}` : ''}`;
  return e instanceof Error ? e.message : 'connection lost';
};

export class LiveConnection {
  state: ConnectionState = { kind: 'connecting' };
  private readonly listeners = new Set<(s: ConnectionState) => void>();
  private readonly client: Client;
  private connectedOnce = false;
  private failures = 0;
  private lastReason = '';
  private resumedTimer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;
  private readonly onOffline = () => this.set({ kind: 'offline', reason: 'the browser is offline' });

  constructor(key: string) {
    this.client = createClient({
      url: graphqlUrl().replace(/^http/, 'ws'),
      lazy: false,
      keepAlive: 10_000,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: (e) => (e as { code?: number })?.code !== FORBIDDEN,
      // Exponential backoff with jitter, capped at 10 s; the wait is shown as "next try in …".
      retryWait: async (retries) => {
        const ms = Math.round(Math.min(10_000, 500 * 2 ** retries) * (0.5 + Math.random() / 2));
        this.set({
          kind: 'reconnecting',
          attempt: retries + 1,
          nextTryAt: Date.now() + ms,
          reason: this.lastReason,
        });
        await new Promise((r) => setTimeout(r, ms));
        this.set({ kind: 'reconnecting', attempt: retries + 1, nextTryAt: null, reason: this.lastReason });
      },
      onNonLazyError: (e) => this.set({ kind: 'offline', reason: closeReason(e) }),
      on: {
        connected: () => {
          this.failures = 0;
          if (this.connectedOnce) {
            this.set({ kind: 'resumed', at: Date.now() });
            clearTimeout(this.resumedTimer);
            this.resumedTimer = setTimeout(() => {
              if (this.state.kind === 'resumed') this.set({ kind: 'live' });
            }, RESUMED_SHOWN_MS);
          } else this.set({ kind: 'live' });
          this.connectedOnce = true;
        },
        closed: (e) => {
          if (this.disposed) return;
          this.lastReason = closeReason(e);
          this.failures++;
          if ((e as { code?: number })?.code === FORBIDDEN)
            this.set({ kind: 'offline', reason: `the gateway refused the key (${closeReason(e)})` });
          else if (this.state.kind !== 'offline' || navigator.onLine)
            this.set({
              kind: 'reconnecting',
              attempt: this.failures,
              nextTryAt: null,
              reason: this.lastReason,
            });
        },
      },
    });
    addEventListener('offline', this.onOffline);
  }

  onState(fn: (s: ConnectionState) => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  private set(s: ConnectionState) {
    if (this.disposed) return;
    this.state = s;
    for (const fn of this.listeners) fn(s);
  }

  /**
   * Subscribes; `cursorOf` names the event's cursor and `cursorVariable` the argument that resumes after it
   * (null for a subscription without one, e.g. jobFeed: its consumer reloads on `resumed` instead).
   */
  subscribe<R, V extends Record<string, unknown>>(
    doc: TypedDocumentNode<R, V>,
    variables: V,
    handlers: {
      next: (data: R) => void;
      error: (e: ApiError) => void;
      complete?: () => void;
      cursorOf?: (data: R) => string | undefined;
      cursorVariable?: keyof V & string;
    },
  ): () => void {
    const payload = { query: source(doc), variables: { ...variables } as Record<string, unknown> };
    return this.client.subscribe<R>(payload, {
      next: (r) => {
        const first = r.errors?.[0];
        if (first) {
          const ext = (first.extensions ?? {}) as Record<string, unknown>;
          handlers.error(new ApiError(String(ext.code ?? 'SUBSCRIPTION_ERROR'), first.message, ext));
          return;
        }
        if (!r.data) return;
        const cursor = handlers.cursorOf?.(r.data);
        if (cursor && handlers.cursorVariable) payload.variables[handlers.cursorVariable] = cursor;
        handlers.next(r.data);
      },
      error: (e) => {
        const list = Array.isArray(e)
          ? (e as Array<{ message: string; extensions?: Record<string, unknown> }>)
          : null;
        if (list?.[0])
          handlers.error(
            new ApiError(
              String(list[0].extensions?.code ?? 'SUBSCRIPTION_ERROR'),
              list[0].message,
              list[0].extensions,
            ),
          );
        else handlers.error(new ApiError('CONNECTION_CLOSED', closeReason(e)));
      },
      complete: () => handlers.complete?.(),
    });
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.resumedTimer);
    removeEventListener('offline', this.onOffline);
    void this.client.dispose();
  }
}
