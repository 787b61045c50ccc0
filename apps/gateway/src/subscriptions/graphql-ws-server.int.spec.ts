import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSchema } from 'graphql';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import type { Authenticator } from '../auth/authenticator.js';
import { formatGatewayError } from '../gateway-errors.js';
import { DocumentGuard } from '../limits/document-guard.js';
import type { OperationGuard } from '../limits/operation-guard.js';
import {
  CONNECTION_REFUSED_CLOSE,
  ConnectionQuota,
  connectionSlotsKey,
  SharedSubscriptionSlots,
  subscriptionSlotsKey,
  SubscriptionQuota,
} from '#libs/auth';
import { startGraphqlWsServer, type GraphqlWsServer } from './graphql-ws-server.js';
import { SocketWriteBatching } from './socket-write-batching.js';
import type { SubscriptionForwarder } from './subscription-forwarder.js';
import type { SupergraphRuntime } from './supergraph-runtime.js';

const schema = buildSchema(`
  type Query { ping: String }
  type Subscription { ticks(every: Int): Int }
`);
const identity = { tenant: 't1', keyId: 'k-reuse', scopes: ['jobs:read' as const] };
/** Open connections the key may hold in this suite. */
const MAX_CONNECTIONS = 5;

/** A subscribe that is admitted only when the test opens the gate (an auth/rate-limit round trip in flight). */
class Gate {
  calls = 0;
  private open!: () => void;
  private readonly opened = new Promise<void>((r) => (this.open = r));
  async pass(): Promise<void> {
    this.calls++;
    await this.opened;
  }
  release(): void {
    this.open();
  }
}

describe('graphql-ws server: a subscription id re-used while its first subscribe is pending', () => {
  let redisServer: RedisHandle;
  let redis: Redis;
  let slots: SharedSubscriptionSlots;
  let connectionSlots: SharedSubscriptionSlots;
  let http: Server;
  let ws: GraphqlWsServer;
  let gate: Gate;
  /** Upstream subscriptions the fake forwarder has open, and has been asked for. */
  let live = 0;
  let forwarded = 0;

  beforeAll(async () => {
    redisServer = await startRedis();
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
    slots = new SharedSubscriptionSlots(redis);
    connectionSlots = new SharedSubscriptionSlots(redis, { redisKey: connectionSlotsKey });
    http = createServer();
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const forwarder = {
      budgetFor: () => undefined,
      subscribe: () =>
        (async function* () {
          forwarded++;
          live++;
          try {
            // An event stream that stays open until it is returned.
            for (let n = 1; ; n++) {
              await new Promise((r) => setTimeout(r, 20));
              yield { data: { ticks: n } };
            }
          } finally {
            live--;
          }
        })(),
    } as unknown as SubscriptionForwarder;
    ws = startGraphqlWsServer({
      httpServer: http,
      path: '/graphql',
      runtime: () => ({ apiGraphQLSchema: schema }) as unknown as SupergraphRuntime,
      authenticator: { authenticate: async () => identity } as unknown as Authenticator,
      guard: {
        admit: () => gate.pass(),
        check: () => undefined,
        checkScopes: () => undefined,
      } as unknown as OperationGuard,
      documentGuard: new DocumentGuard({
        maxBytes: 10_000,
        maxTokens: 1_000,
        maxDefinitions: 10,
        maxFragmentSpreads: 10,
        maxStringBytes: 1_000,
        maxDepth: 10,
        maxAliases: 10,
        maxRootFields: 10,
        maxCost: 1_000,
        maxSelections: 1_000,
        maxDirectives: 10,
        defaultListSize: 10,
      }),
      quota: new SubscriptionQuota(10, 10, slots),
      connections: new ConnectionQuota(MAX_CONNECTIONS, connectionSlots),
      forwarder,
      executeOperation: async () => ({ data: null }),
      introspection: true,
      pingIntervalMs: 60_000,
      maxPayloadBytes: 64 * 1024,
      format: (f, e) => formatGatewayError(f, e, { production: true }),
      recheckKeysMs: 60_000,
      writes: new SocketWriteBatching(),
    });
  });
  afterAll(async () => {
    await ws?.dispose();
    await slots?.close();
    await connectionSlots?.close();
    await new Promise((r) => http?.close(r));
    redis?.disconnect();
    await redisServer?.stop();
  });

  const connect = async () => {
    const { port } = http.address() as AddressInfo;
    const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
    const messages: { type: string; id?: string; payload?: unknown }[] = [];
    let closeCode: number | undefined;
    socket.on('message', (m) => messages.push(JSON.parse(String(m)) as { type: string }));
    socket.on('close', (code) => (closeCode = code));
    await new Promise((r) => socket.once('open', r));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer x' } }));
    await waitFor(() => messages.some((m) => m.type === 'connection_ack'), { timeoutMs: 5_000 });
    const send = (m: object) => socket.send(JSON.stringify(m));
    return { socket, messages, send, closeCode: () => closeCode };
  };
  const subscribe = { type: 'subscribe', id: 'a', payload: { query: 'subscription { ticks }' } };
  const openConnections = () => redis.zcard(connectionSlotsKey(identity.keyId));

  it('refuses a connection past MAX_CONNECTIONS_PER_KEY with 1013, and takes one again once a slot is given back', async () => {
    gate = new Gate();
    gate.release();
    const before = await openConnections();
    const held = [];
    for (let i = before; i < MAX_CONNECTIONS; i++) held.push(await connect());
    expect(await openConnections()).toBe(MAX_CONNECTIONS);
    // one more: refused before connection_ack (the old server acknowledged every one, without bound)
    const { port } = http.address() as AddressInfo;
    const extra = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      extra.on('close', (code, reason) => r({ code, reason: String(reason) })),
    );
    const acked: unknown[] = [];
    extra.on('message', (m) => acked.push(m));
    await new Promise((r) => extra.once('open', r));
    extra.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer x' } }));
    expect(await closed).toEqual({
      code: CONNECTION_REFUSED_CLOSE,
      reason: `at most ${MAX_CONNECTIONS} open connections per API key`,
    });
    expect(acked).toEqual([]);
    expect(await openConnections()).toBe(MAX_CONNECTIONS);
    // a closed connection gives its slot back, and the next one is let in
    held.pop()!.socket.close();
    await waitFor(async () => (await openConnections()) === MAX_CONNECTIONS - 1, { timeoutMs: 5_000 });
    held.push(await connect());
    for (const c of held) c.socket.close();
    await waitFor(async () => (await openConnections()) === before, { timeoutMs: 5_000 });
  });

  it('holds no slot and no upstream subscription once the connection is over', async () => {
    gate = new Gate();
    const c = await connect();
    c.send(subscribe);
    c.send({ type: 'complete', id: 'a' });
    c.send(subscribe); // same id, while the first subscribe still waits for admission
    await waitFor(() => gate.calls >= 1, { timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 100));
    gate.release();
    await new Promise((r) => setTimeout(r, 300));
    // the 4409 close went out when the duplicate arrived; on a loaded machine it may not have reached us yet
    await waitFor(() => c.closeCode() !== undefined, { timeoutMs: 5_000 }).catch(() => undefined);
    c.send({ type: 'complete', id: 'a' });
    if (c.closeCode() === undefined) c.socket.close();
    await waitFor(() => c.closeCode() !== undefined, { timeoutMs: 5_000 });
    // Re-using a live id is the protocol's "subscriber already exists".
    expect(c.closeCode()).toBe(4409);
    // Every slot given back (not left until the replica restarts), every upstream subscription ended.
    await waitFor(async () => (await redis.zcard(subscriptionSlotsKey(identity.keyId))) === 0, {
      timeoutMs: 3_000,
    }).catch(() => undefined);
    expect(await redis.zcard(subscriptionSlotsKey(identity.keyId))).toBe(0);
    expect(live).toBe(0);
  });

  it('a subscribe completed before admission takes no slot', async () => {
    gate = new Gate();
    const c = await connect();
    c.send(subscribe);
    await waitFor(() => gate.calls >= 1, { timeoutMs: 5_000 });
    c.send({ type: 'complete', id: 'a' });
    await new Promise((r) => setTimeout(r, 100));
    gate.release();
    await new Promise((r) => setTimeout(r, 300));
    expect(await redis.zcard(subscriptionSlotsKey(identity.keyId))).toBe(0);
    expect(live).toBe(0);
    c.socket.close();
    await waitFor(() => c.closeCode() !== undefined, { timeoutMs: 5_000 });
  });

  it('gives the slot back when a running subscription is completed, and when its connection closes', async () => {
    gate = new Gate();
    gate.release();
    const c = await connect();
    c.send({ ...subscribe, id: 'run1' });
    await waitFor(() => c.messages.some((m) => m.type === 'next' && m.id === 'run1'), { timeoutMs: 5_000 });
    expect(await redis.zcard(subscriptionSlotsKey(identity.keyId))).toBe(1);
    c.send({ type: 'complete', id: 'run1' });
    await waitFor(async () => (await redis.zcard(subscriptionSlotsKey(identity.keyId))) === 0, {
      timeoutMs: 5_000,
    });
    c.send({ ...subscribe, id: 'run2' });
    await waitFor(() => c.messages.some((m) => m.type === 'next' && m.id === 'run2'), { timeoutMs: 5_000 });
    expect(await redis.zcard(subscriptionSlotsKey(identity.keyId))).toBe(1);
    c.socket.close();
    await waitFor(async () => (await redis.zcard(subscriptionSlotsKey(identity.keyId))) === 0, {
      timeoutMs: 5_000,
    });
    await waitFor(() => live === 0, { timeoutMs: 5_000 });
  });

  it('closes a socket that sends a frame over maxPayloadBytes (1009) before parsing it', async () => {
    gate = new Gate();
    gate.release();
    const c = await connect();
    c.send({ ...subscribe, id: 'big', payload: { query: `{ ping } # ${'x'.repeat(70 * 1024)}` } });
    await waitFor(() => c.closeCode() !== undefined, { timeoutMs: 5_000 });
    expect(c.closeCode()).toBe(1009);
    expect(gate.calls).toBe(0);
  });

  it('refuses a subscription whose variables do not fit their types BAD_USER_INPUT, as HTTP does, before anything opens', async () => {
    gate = new Gate();
    gate.release();
    const c = await connect();
    const forwardedBefore = forwarded;
    const ticks = 'subscription ($every: Int!) { ticks(every: $every) }';
    const cases = [
      { id: 'missing', payload: { query: ticks } },
      { id: 'wrong-type', payload: { query: ticks, variables: { every: 'often' } } },
      // declared, not used: the upstream operation would not even carry it
      { id: 'unused', payload: { query: 'subscription ($n: Int) { ticks }', variables: { n: 'x' } } },
    ];
    for (const { id, payload } of cases) c.send({ type: 'subscribe', id, payload });
    await waitFor(() => cases.every(({ id }) => c.messages.some((m) => m.id === id && m.type !== 'next')), {
      timeoutMs: 5_000,
      what: 'each subscribe to be answered otherwise than with events',
    });
    for (const { id } of cases) {
      const answer = c.messages.find((m) => m.id === id)!;
      expect([id, answer.type]).toEqual([id, 'error']);
      expect((answer.payload as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code).toBe(
        'BAD_USER_INPUT',
      );
    }
    expect(forwarded).toBe(forwardedBefore);
    expect(await redis.zcard(subscriptionSlotsKey(identity.keyId))).toBe(0);
    c.socket.close();
    await waitFor(() => c.closeCode() !== undefined, { timeoutMs: 5_000 });
  });
});
