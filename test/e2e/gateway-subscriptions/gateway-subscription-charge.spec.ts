import {
  collect,
  gql,
  startGatewayStack,
  wsClient,
  type GatewayStack,
} from '../gateway-support/gateway-stack.js';
import { parseExposition } from '../observability/metrics-catalog.js';

/** The red team's selection: every event resolves the whole job again (cost 3,007 of MAX_QUERY_COST 25,000). */
const HEAVY = `subscription($j: ID!, $after: String) { jobEvents(jobId: $j, after: $after) { seq cursor type
  job { id labels nodes { id task taskVersion status progress message attempts outputs error { code message retryable }
  workerId startedAt finishedAt } } } }`;
const CHEAP = `subscription($j: ID!) { jobEvents(jobId: $j) { seq cursor } }`;
const SUBMIT = `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id } }`;
const NODES = 20;

/**
 * Delivered events are charged to the key's bucket through the real gateway, jobs subgraph, worker and Redis:
 * a heavy jobEvents subscription that outspends a small bucket is ended RATE_LIMITED with retryAfterSeconds and
 * the cursor of the last event it was sent, and resuming from that cursor once the bucket refilled goes on with
 * the next event.
 */
describe('gateway: subscription events charged to the key', () => {
  let stack: GatewayStack;

  beforeAll(async () => {
    // four tokens, then one a second
    stack = await startGatewayStack({
      worker: true,
      gatewayEnv: { RATE_LIMIT_PER_MINUTE: '60', RATE_LIMIT_BURST: '4', RATE_LIMIT_LEASE_MS: '0' },
    });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('ends a heavy subscription RATE_LIMITED with resumeAfter its last event; resuming after the retry time continues there', async () => {
    // the job and its watcher on one key, the heavy subscription on another (a bucket of its own)
    const { key: owner } = await stack.createKey('acme', ['jobs:read', 'jobs:write']);
    const { key: reader } = await stack.createKey('acme', ['jobs:read']);
    // a chain, so that its events arrive over a second or two rather than in one burst
    const nodes = Array.from({ length: NODES }, (_, i) => ({
      id: `n${i}`,
      task: 'test.sleep',
      inputs: { ms: 30 },
      ...(i > 0 ? { dependsOn: [`n${i - 1}`] } : {}),
    }));
    const submitted = await gql(stack.url, owner, SUBMIT, { input: { graph: { nodes } } });
    expect(submitted.body.errors).toBeUndefined();
    const jobId = submitted.body.data.submitJob.id as string;
    const ownerWs = wsClient(stack.wsUrl, owner);
    const readerWs = wsClient(stack.wsUrl, reader);
    // ~8 events a token: the three tokens left after the subscribe cover ~25 events, not the job's 60+
    const heavy = collect(readerWs, HEAVY, { j: jobId });
    // the job's whole log (a cheap selection: charged nothing past its subscribe)
    const watcher = collect(ownerWs, CHEAP, { j: jobId });
    expect(await watcher.done).toBe('complete');
    const total = watcher.results.length;
    expect(total).toBeGreaterThan(3 * NODES);
    expect(watcher.results.every((r) => !r.errors)).toBe(true);

    // as an overflow ends one: a last `next` with the error, then `complete`
    expect(await heavy.done).toBe('complete');
    const last = heavy.results.at(-1)!;
    const [error] = last.errors as Array<{ extensions: Record<string, any> }>;
    const delivered = heavy.results
      .slice(0, -1)
      .map((r) => r.data.jobEvents as { seq: number; cursor: string });
    expect(error!.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'subscriptionEvents' });
    expect(error!.extensions.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(delivered.length).toBeLessThan(total);
    expect(delivered.map((e) => e.seq)).toEqual(delivered.map((_, i) => i + 1));
    expect(error!.extensions.resumeAfter).toBe(delivered.at(-1)!.cursor);

    // the bucket refilled: resuming after that cursor starts with the next event
    await new Promise((r) => setTimeout(r, (error!.extensions.retryAfterSeconds as number) * 1000 + 3_000));
    const resumed = collect(readerWs, HEAVY, { j: jobId, after: error!.extensions.resumeAfter });
    await resumed.done;
    // (it may be cut again: the bucket holds four tokens)
    const next = resumed.results.filter((r) => r.data).map((r) => r.data.jobEvents as { seq: number });
    expect(next.length).toBeGreaterThan(0);
    expect(next.map((e) => e.seq)).toEqual(next.map((_, i) => delivered.length + 1 + i));

    // counted apart from the per-operation rate limit
    const text = await (await fetch(stack.url.replace(/\/graphql$/, '/metrics'))).text();
    const refused = parseExposition(text).samples.filter(
      (s) => s.name === 'switchyard_gateway_refused_total' && s.labels.reason === 'subscriptionEvents',
    );
    expect(refused.reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(1);
    await readerWs.dispose();
    await ownerWs.dispose();
  }, 120_000);
});
