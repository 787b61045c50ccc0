/**
 * The peer of bench/gateway-fanout.ts: a bare graphql-ws broadcaster. For each job it takes ONE subscription
 * to the jobs subgraph (the same source the gateway forwards) and pushes every event to all of its own
 * clients, replaying what it already has to a client that subscribes late. No auth, no limits, no
 * planning, no buffers bounds: the least a graphql-ws fan-out can do. Run as its own process (like the
 * gateway) so it does not share an event loop with the measuring clients:
 *
 *   FANOUT_JOBS_WS_URL=ws://… FANOUT_IDENTITY_SECRET=… FANOUT_TENANT=dev node dist/bench/gateway-support/fanout-broadcaster.js
 *
 * Prints `listening <port>` on stdout once ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSchema, type ExecutionResult } from 'graphql';
import { createClient } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import WebSocket, { WebSocketServer } from 'ws';
import { signIdentity } from '#libs/auth';

interface Event {
  seq: number;
  type: string;
  at: string;
}

const upstreamUrl = process.env.FANOUT_JOBS_WS_URL!;
const secret = process.env.FANOUT_IDENTITY_SECRET!;
const identity = {
  tenant: process.env.FANOUT_TENANT ?? 'dev',
  keyId: 'fanout-peer',
  scopes: ['jobs:read' as const],
};

const upstream = createClient({
  url: upstreamUrl,
  webSocketImpl: WebSocket,
  connectionParams: () => ({ identity: signIdentity(identity, secret) }),
  retryAttempts: 0,
});

/** One job's events: one upstream subscription, everything kept, pushed to every listener. */
class Channel {
  readonly history: Event[] = [];
  readonly listeners = new Set<Listener>();
  done = false;
  constructor(jobId: string) {
    upstream.subscribe<{ jobEvents: Event }>(
      { query: 'subscription($id: ID!) { jobEvents(jobId: $id) { seq type at } }', variables: { id: jobId } },
      {
        next: (r) => {
          const e = r.data?.jobEvents;
          if (!e) return;
          this.history.push(e);
          for (const l of this.listeners) l.push(e);
        },
        error: () => this.end(),
        complete: () => this.end(),
      },
    );
  }
  private end(): void {
    this.done = true;
    for (const l of this.listeners) l.end();
  }
}

/** A pushable async iterator (unbounded: the peer does the least). */
class Listener implements AsyncIterableIterator<Event> {
  private readonly queue: Event[] = [];
  private ended = false;
  private waiter: (() => void) | null = null;
  constructor(private readonly channel: Channel) {
    this.queue.push(...channel.history);
    if (channel.done) this.ended = true;
    else channel.listeners.add(this);
  }
  push(e: Event): void {
    this.queue.push(e);
    this.wake();
  }
  end(): void {
    this.ended = true;
    this.wake();
  }
  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
  async next(): Promise<IteratorResult<Event>> {
    for (;;) {
      const e = this.queue.shift();
      if (e) return { done: false, value: e };
      if (this.ended) return { done: true, value: undefined };
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
  async return(): Promise<IteratorResult<Event>> {
    this.channel.listeners.delete(this);
    this.end();
    return { done: true, value: undefined };
  }
  [Symbol.asyncIterator](): this {
    return this;
  }
}

const channels = new Map<string, Channel>();
const schema = buildSchema(`
  type JobEvent { seq: Int! type: String! at: String! }
  type Query { ok: Boolean }
  type Subscription { jobEvents(jobId: ID!): JobEvent! }
`);

const server = createServer((_req, res) => res.writeHead(404).end());
// The leanest graphql-ws fan-out: each event is handed out as a ready result (the clients select exactly the
// fields the upstream subscription selects), with no GraphQL execution per subscriber and event.
useServer(
  {
    schema,
    subscribe: (args) => {
      // the benchmark's clients send `jobEvents(jobId: $id)`
      const jobId = String((args.variableValues as { id?: string } | undefined)?.id);
      let channel = channels.get(jobId);
      if (!channel) channels.set(jobId, (channel = new Channel(jobId)));
      const listener = new Listener(channel);
      return {
        next: async () => {
          const r = await listener.next();
          return r.done ? r : { done: false, value: { data: { jobEvents: r.value } } };
        },
        return: async () => listener.return(),
        [Symbol.asyncIterator]() {
          return this;
        },
      } as unknown as AsyncGenerator<ExecutionResult>;
    },
  },
  new WebSocketServer({ server, path: '/graphql' }),
);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => process.exit(0));
