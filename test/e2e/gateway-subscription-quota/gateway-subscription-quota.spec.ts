import { freePort, startApp, waitFor, type AppHandle } from '#libs/testing';
import {
  collect,
  startGatewayStack,
  wsClient,
  type Collected,
  type GatewayStack,
} from '../gateway-support/gateway-stack.js';
import { parseExposition } from '../observability/metrics-catalog.js';

const FEED = 'subscription { jobFeed { seq } }';

/** A gateway's switchyard_gateway_refused_total{reason} (its /metrics: open outside production). */
async function refusedCounted(graphqlUrl: string, reason: string): Promise<number> {
  const text = await (await fetch(graphqlUrl.replace(/\/graphql$/, '/metrics'))).text();
  return parseExposition(text)
    .samples.filter((s) => s.name === 'switchyard_gateway_refused_total' && s.labels.reason === reason)
    .reduce((n, s) => n + s.value, 0);
}

/** Settles a subscribe: 'open' when no error came within the wait, else the error's code. */
async function outcome(sub: Collected, waitMs = 700): Promise<string> {
  const settled = await Promise.race([sub.done, new Promise((r) => setTimeout(() => r('open'), waitMs))]);
  if (settled === 'open') return 'open';
  return (sub.error as any[] | undefined)?.[0]?.extensions?.code ?? String(settled);
}

/**
 * MAX_SUBSCRIPTIONS_PER_KEY holds across gateway replicas: two built gateways on one Redis together allow
 * exactly the limit for a key, and a subscription ended on one replica frees the slot for the other.
 */
describe('gateway subscription quota across replicas', () => {
  let stack: GatewayStack;
  let second: AppHandle;
  let secondWsUrl: string;
  let secondUrl: string;
  const gatewayEnv = { MAX_SUBSCRIPTIONS_PER_KEY: '3', MAX_SUBSCRIPTIONS_PER_CONNECTION: '10' };

  beforeAll(async () => {
    stack = await startGatewayStack({ gatewayEnv });
    const port = await freePort();
    second = await startApp(
      'dist/apps/gateway/src/main.js',
      { ...stack.env, ...gatewayEnv, GATEWAY_PORT: String(port) },
      port,
    );
    await second.waitReady(90_000);
    secondWsUrl = `ws://127.0.0.1:${port}/graphql`;
    secondUrl = `http://127.0.0.1:${port}/graphql`;
  }, 240_000);

  afterAll(async () => {
    await second?.stop().catch(() => undefined);
    await stack?.stop();
  });

  it('two replicas together allow exactly the per-key limit; ending one frees a slot on the other', async () => {
    const { key } = await stack.createKey('acme', ['jobs:read']);
    const { key: otherKey } = await stack.createKey('acme', ['jobs:read']);
    const onA = wsClient(stack.wsUrl, key);
    const onB = wsClient(secondWsUrl, key);
    const subsA = [collect(onA, FEED), collect(onA, FEED)];
    expect(await Promise.all(subsA.map((s) => outcome(s)))).toEqual(['open', 'open']);
    const subB = collect(onB, FEED);
    expect(await outcome(subB)).toBe('open');

    // The key holds 3 across both replicas: a 4th is refused on either one.
    expect(await outcome(collect(onB, FEED))).toBe('RATE_LIMITED');
    expect(await outcome(collect(onA, FEED))).toBe('RATE_LIMITED');

    // Another key is independent.
    const other = wsClient(secondWsUrl, otherKey);
    expect(await outcome(collect(other, FEED))).toBe('open');

    // A subscription completed on A frees its slot for B at once (not after the TTL).
    subsA[0]!.dispose();
    await waitFor(async () => (await outcome(collect(onB, FEED), 500)) === 'open', { timeoutMs: 5_000 });
    expect(await outcome(collect(onA, FEED))).toBe('RATE_LIMITED');

    // each replica counted the refusals it answered, by the bound, apart from the rate limit's
    expect(await refusedCounted(stack.url, 'subscriptionsPerKey')).toBe(2);
    expect(await refusedCounted(secondUrl, 'subscriptionsPerKey')).toBeGreaterThanOrEqual(1); // and any while the slot freed
    expect(await refusedCounted(stack.url, 'RATE_LIMITED')).toBe(0);

    await Promise.all([onA.dispose(), onB.dispose(), other.dispose()]);
  });
});
