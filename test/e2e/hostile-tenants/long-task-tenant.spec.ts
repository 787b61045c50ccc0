import { REDIS_PREFIX } from '#libs/contracts';
import { waitFor } from '#libs/testing';
import { Redis } from 'ioredis';
import { gql, startGatewayStack, type GatewayStack } from '../gateway-support/gateway-stack.js';

const ACTORS = 4;
const LONG_MS = 30_000;
const SHORT_MS = 50;
const LONG_JOBS = 12;
const SHORT_JOBS = 20;
/** "Not waiting for A's 30 s": B's 20 jobs of 50 ms need about 1 s on 2 actors; the rest is a loaded machine. */
const SHORT_BOUND_MS = 10_000;
/** The dispatch window as the app sets it: max(DISPATCH_WINDOW = 8, live actors). */
const WINDOW = Math.max(8, ACTORS);
/** "Held until cancelled": D's attempts, which fill every actor and the window before E arrives. */
const HELD_MS = 600_000;

const SUBMIT = `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id status } }`;
const CANCEL = `mutation($id: ID!) { cancelJob(id: $id) { id status } }`;
const STATUSES = `query { jobs(first: 100) { edges { node { id status } } } }`;
const sleepJob = (ms: number) => ({
  input: { graph: { nodes: [{ id: 's', task: 'test.sleep', inputs: { ms } }] } },
});

/**
 * Decision 0005, "Occupancy: slots, not attempts", on the real stack (redis, s3rver, both subgraphs, a gpu-worker
 * with 4 CPU actors and the test tasks, the gateway): tenant A's attempts run 30 s, tenant B's 50 ms, both have a
 * backlog when actors free. Before, every actor that ended one of B's attempts took the next queued one (A and B in
 * turn) and an actor that took one of A's was gone for 30 s: within a second A held all 4 and B waited for A's ends.
 * Now A holds its share (2 of 4) and B's 20 jobs finish while A's still run.
 *
 * Both backlogs need the actors busy while they form (a tenant alone in the ring takes every free actor): tenant C's
 * jobs hold the 4 actors until the test cancels them.
 *
 * Decision 0005, "Taking back": tenant D alone fills the 4 actors and the window of 8 with attempts of 10 min;
 * tenant E's one job, submitted then, runs on the first actor that frees (before: behind D's 8 in the window).
 */
describe('hostile tenants: a tenant with long attempts does not take every actor', () => {
  let stack: GatewayStack;
  let redis: Redis;
  const keys = { a: '', b: '', c: '', d: '', e: '' };
  const submitted: Record<keyof typeof keys, string[]> = { a: [], b: [], c: [], d: [], e: [] };
  const tenants = ['a', 'b', 'c', 'd', 'e'] as const;

  const submit = async (who: keyof typeof keys, ms: number) => {
    const r = await gql(stack.url, keys[who], SUBMIT, sleepJob(ms));
    expect(r.body.errors).toBeUndefined();
    submitted[who].push(r.body.data.submitJob.id as string);
  };
  /** status by job id, of the tenant's jobs (one request per poll: `jobs` is per tenant) */
  const statuses = async (who: keyof typeof keys): Promise<Map<string, string>> => {
    const r = await gql(stack.url, keys[who], STATUSES);
    expect(r.body.errors).toBeUndefined();
    return new Map(
      (r.body.data.jobs.edges as Array<{ node: { id: string; status: string } }>).map((e) => [
        e.node.id,
        e.node.status,
      ]),
    );
  };
  /** switchyard_fair_taken_back_total of the cpu class on the jobs subgraph. */
  const takenBack = async (): Promise<number> => {
    const text = await fetch(`${stack.jobs.url}/metrics`).then((r) => r.text());
    const m = /^switchyard_fair_taken_back_total\{resource_class="cpu"[^}]*\} (\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  };
  const count = (m: Map<string, string>, ids: string[], ...status: string[]) =>
    ids.filter((id) => status.includes(m.get(id) ?? '')).length;

  beforeAll(async () => {
    stack = await startGatewayStack({
      worker: true,
      workerEnv: { WORKER_CPU_ACTORS: String(ACTORS) },
      // the leader records the class's live actors (the share is ceil(actors / tenants waiting)) on its pass
      jobsEnv: { RECONCILE_INTERVAL_MS: '500' },
      // polling is what is measured against, not the gateway's rate limit
      gatewayEnv: { RATE_LIMIT_PER_MINUTE: '6000', RATE_LIMIT_BURST: '500' },
    });
    redis = new Redis(stack.redis.url);
    for (const who of tenants)
      keys[who] = (await stack.createKey(`tenant-${who}`, ['jobs:read', 'jobs:write'])).key;
    // a precondition, not the assertion: until the leader has recorded the 4 actors the share is taken from the window
    await waitFor(
      async () => ((await redis.get(`${REDIS_PREFIX}:fair:cpu:capacity`)) === String(ACTORS) ? true : null),
      {
        timeoutMs: 30_000,
        what: 'the leader to record the 4 CPU actors',
      },
    );
  }, 240_000);

  afterAll(async () => {
    // leave nothing running for the shutdown: A's 30 s and C's 10 min are not waited out
    if (stack)
      for (const who of tenants)
        for (const id of submitted[who])
          await gql(stack.url, keys[who], CANCEL, { id }).catch(() => undefined);
    redis?.disconnect();
    await stack?.stop();
  }, 60_000);

  it("B's 20 short jobs finish in seconds while A's 12 jobs of 30 s still run", async () => {
    // C holds every actor, so that what follows queues
    for (let i = 0; i < ACTORS; i++) await submit('c', 600_000);
    await waitFor(async () => (count(await statuses('c'), submitted.c, 'RUNNING') === ACTORS ? true : null), {
      timeoutMs: 30_000,
      what: "C's jobs to hold the 4 actors",
    });
    // B's backlog, then A's: both tenants wait when the actors free
    for (let i = 0; i < SHORT_JOBS; i++) await submit('b', SHORT_MS);
    for (let i = 0; i < LONG_JOBS; i++) await submit('a', LONG_MS);
    const t0 = Date.now();
    for (const id of submitted.c) {
      const r = await gql(stack.url, keys.c, CANCEL, { id });
      expect(r.body.data.cancelJob.status).toBe('CANCELLED');
    }

    let bDone = 0;
    let aState = new Map<string, string>();
    const finished = await waitFor(
      async () => {
        const b = await statuses('b');
        bDone = count(b, submitted.b, 'SUCCEEDED');
        aState = await statuses('a');
        return bDone === SHORT_JOBS || Date.now() - t0 > SHORT_BOUND_MS ? Date.now() - t0 : null;
      },
      { timeoutMs: SHORT_BOUND_MS + 20_000, intervalMs: 200, what: "B's jobs" },
    );
    const aRunning = count(aState, submitted.a, 'RUNNING');
    const aWaiting = count(aState, submitted.a, 'RUNNING', 'QUEUED');
    console.info(
      `long-task tenant: ${bDone}/${SHORT_JOBS} of B's ${SHORT_MS} ms jobs succeeded ${finished} ms after the actors ` +
        `freed; A (${LONG_JOBS} × ${LONG_MS} ms): ${aRunning} running, ${aWaiting - aRunning} queued`,
    );
    expect(bDone).toBe(SHORT_JOBS);
    expect(finished).toBeLessThan(SHORT_BOUND_MS);
    // B did not wait for A to end: every one of A's jobs is still unfinished, and A ran on its share meanwhile
    expect(aWaiting).toBe(LONG_JOBS);
    // (not "at most 2": once B's last attempts are out, A is alone in the ring and takes the actors that free)
    expect(aRunning).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it("a newcomer's job runs on the first actor that frees, not behind the window a tenant alone filled", async () => {
    // the case above leaves A's jobs running: out of the way
    for (const id of submitted.a) await gql(stack.url, keys.a, CANCEL, { id });
    // D alone: every actor, then the window, then 2 more held in the stage
    const D_JOBS = ACTORS + WINDOW + 2;
    for (let i = 0; i < D_JOBS; i++) await submit('d', HELD_MS);
    const dispatchedKey = `${REDIS_PREFIX}:fair:cpu:dispatched`;
    await waitFor(
      async () =>
        count(await statuses('d'), submitted.d, 'RUNNING') === ACTORS &&
        (await redis.zcard(dispatchedKey)) === WINDOW
          ? true
          : null,
      { timeoutMs: 30_000, what: "D's jobs on every actor and in the whole window" },
    );
    const before = await takenBack();
    await submit('e', SHORT_MS);
    // one of D's running jobs ends (cancelled): its actor takes E's attempt, not D's next
    const dNow = await statuses('d');
    const ending = submitted.d.find((id) => dNow.get(id) === 'RUNNING')!;
    const t0 = Date.now();
    expect((await gql(stack.url, keys.d, CANCEL, { id: ending })).body.data.cancelJob.status).toBe(
      'CANCELLED',
    );
    const eDone = await waitFor(
      async () =>
        count(await statuses('e'), submitted.e, 'SUCCEEDED') === 1 || Date.now() - t0 > SHORT_BOUND_MS
          ? Date.now() - t0
          : null,
      { timeoutMs: SHORT_BOUND_MS + 20_000, intervalMs: 200, what: "E's job" },
    );
    const dAfter = await statuses('d');
    console.info(
      `newcomer behind a full window: E's ${SHORT_MS} ms job succeeded ${eDone} ms after one of D's actors freed; ` +
        `D: ${count(dAfter, submitted.d, 'RUNNING')} running, ${count(dAfter, submitted.d, 'QUEUED')} queued`,
    );
    expect(count(await statuses('e'), submitted.e, 'SUCCEEDED')).toBe(1);
    expect(eDone).toBeLessThan(SHORT_BOUND_MS);
    // none of D's queued jobs went first: D still has every one of them but the cancelled one unfinished
    expect(count(dAfter, submitted.d, 'RUNNING', 'QUEUED')).toBe(D_JOBS - 1);
    // D's attempts beyond its share came back out of BullMQ and went out again behind E's
    expect(await takenBack()).toBeGreaterThan(before);
  }, 120_000);
});
