/** Measuring clients of bench/gateway-fanout.ts: graphql-ws subscriptions that record every event's arrival. */
import { readFileSync } from 'node:fs';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface SeenEvent {
  jobId?: string;
  seq: number;
  type: string;
  at: string;
  /** Date.now() when it reached the client (the same clock as the event's `at`). */
  arrived: number;
}

export interface RecordedSubscription {
  events: SeenEvent[];
  /** 'complete' | 'error: …' once it ended. */
  outcome?: string;
  done: Promise<void>;
  dispose: () => void;
}

/**
 * `count` graphql-ws clients, one connection each. `reconnects`: how many times a dropped connection is
 * opened again (graphql-ws then subscribes again; a jobFeed would miss what came meanwhile, which the
 * benchmark counts as missing); `stats.reconnected` counts them.
 */
export function wsClients(
  url: string,
  count: number,
  params: Record<string, unknown>,
  reconnects = 0,
  stats: { reconnected: number } = { reconnected: 0 },
): Client[] {
  return Array.from({ length: count }, () =>
    createClient({
      url,
      webSocketImpl: WebSocket,
      lazy: true,
      retryAttempts: reconnects,
      connectionParams: params,
      on: { connected: (_s, _p, wasRetry) => void (wasRetry && stats.reconnected++) },
    }),
  );
}

/**
 * Subscribes and records every event of the root field `field`. `retryUnavailable`: a subscription refused
 * with UNAVAILABLE before its first event (e.g. the gateway's quota store did not answer in time under a
 * burst) is sent again after the `retryAfterSeconds` it names, as a UI would; `retries` counts them.
 */
export function record(
  client: Client,
  query: string,
  field: string,
  variables?: Record<string, unknown>,
  opts: { retryUnavailable?: boolean } = {},
): RecordedSubscription & { retries: number } {
  const sub = {
    events: [] as SeenEvent[],
    done: Promise.resolve(),
    dispose: () => undefined,
    retries: 0,
  } as RecordedSubscription & { retries: number };
  sub.done = new Promise<void>((resolve) => {
    const attempt = () => {
      let retryIn: number | undefined;
      sub.dispose = client.subscribe(
        { query, variables },
        {
          next: (r) => {
            const e = (r.data as Record<string, Omit<SeenEvent, 'arrived'>> | undefined)?.[field];
            if (e) sub.events.push({ ...e, arrived: Date.now() });
          },
          error: (e) => {
            const first = Array.isArray(e) ? (e[0] as { extensions?: Record<string, unknown> }) : undefined;
            if (opts.retryUnavailable && sub.events.length === 0 && first?.extensions?.code === 'UNAVAILABLE')
              retryIn = Number(first.extensions.retryAfterSeconds ?? 1) * 1000;
            if (retryIn !== undefined) {
              sub.retries++;
              setTimeout(attempt, retryIn);
              return;
            }
            const closed = e as { code?: number; reason?: string };
            sub.outcome ??=
              e instanceof Error
                ? `error: ${e.message}`
                : typeof closed?.code === 'number'
                  ? `socket closed ${closed.code} ${closed.reason ?? ''}`
                  : `error: ${JSON.stringify(e)}`;
            resolve();
          },
          complete: () => {
            sub.outcome ??= 'complete';
            resolve();
          },
        },
      );
    };
    attempt();
  });
  return sub;
}

/** Resolves once `ok()` holds, checking every 50 ms; throws with `what` after `timeoutMs`. */
export async function until(ok: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function quantile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export const median = (xs: number[]): number =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

/** Resident set size of a process in bytes (Linux /proc), 0 when it is gone. */
export function rssBytes(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export const fmt = (v: number, digits = 0): string =>
  Number.isFinite(v)
    ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';

/** Two significant digits, as the other benchmarks print ratios. */
export const ratio = (ours: number, peer: number): string => {
  if (!(peer > 0) || !Number.isFinite(ours)) return 'n/a';
  const r = ours / peer;
  return `${r >= 10 ? r.toFixed(0) : r.toPrecision(2)}×`;
};
