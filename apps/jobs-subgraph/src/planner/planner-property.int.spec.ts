import fc from 'fast-check';
import { Redis } from 'ioredis';
import { REDIS_PREFIX, GraphError, NODE_QUEUES, REDIS_KEYS } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { startRedis, type RedisHandle } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TestWorker } from '../../test/test-worker.js';
import { CapabilityCatalog } from '../registry/capability-catalog.js';
import { imageResize, modelEvaluate, modelTrain, workerManifest } from '../registry/test/manifests.js';
import type { WorkerRegistry } from '../registry/worker-registry.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { EventSubscriptions } from '../events/job-events.js';
import { JobsService } from '../service/jobs-service.js';
import { DEFAULT_TEMPLATES_DIR, TemplateRegistry } from '../templates/template-registry.js';
import { hostileSubmission } from './test/hostile-submissions.js';

const TASKS = [imageResize('1.0.0'), imageResize('1.3.0'), modelTrain('1.0.0'), modelEvaluate('1.0.0')];
const templates = TemplateRegistry.loadFromDir(DEFAULT_TEMPLATES_DIR);
/**
 * Per submission, CPU time (not wall time: CI machines are shared) the answer may take at most. The costliest
 * valid inputs (a 200-node fan-out, the planner's node limit) take about 100 ms; the bound leaves room for GC.
 */
const ANSWER_BOUND_MS = 500;
const TYPED_REFUSALS = new Set(['BAD_USER_INPUT', 'QUOTA_EXCEEDED', 'INVALID_GRAPH']);

/** The answer to one submission: a plan verdict or a typed refusal; anything else fails the property. */
function expectTyped(outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void {
  if (outcome.ok) return;
  const e = outcome.error;
  if (!(e instanceof DomainError)) throw new Error(`untyped error: ${String(e)}`, { cause: e });
  if (!TYPED_REFUSALS.has(e.code)) throw new Error(`unexpected code ${e.code}: ${e.message}`);
  if (e.code === 'INVALID_GRAPH') {
    const errors = e.extensions.errors as unknown[];
    expect(errors.length).toBeGreaterThan(0);
    for (const g of errors) GraphError.parse(g);
  }
}

async function answer<T>(f: () => Promise<T>) {
  const started = process.cpuUsage();
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await f() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  const used = process.cpuUsage(started);
  return { outcome, ms: (used.user + used.system) / 1000 };
}

describe('the planner against 10,000 generated hostile submissions', () => {
  // the service's planning path (bounds, contract schema, planner) with a fixed catalog: no Redis needed
  const catalog = new CapabilityCatalog([workerManifest('w', TASKS)]);
  const service = new JobsService(
    {} as Scheduler,
    {
      catalog: async () => catalog,
      cachedCatalog: async () => ({ catalog, readAt: 0 }),
      freshCatalog: async () => ({ catalog, readAt: Date.now() }),
    } as unknown as WorkerRegistry,
    templates,
    {} as EventSubscriptions,
  );

  it('answers each with a verdict or a typed refusal, within the bound', async () => {
    let slowest = 0;
    const seen = { valid: 0, invalidGraph: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(hostileSubmission, async (input) => {
        const first = await answer(() => service.validateGraph(input));
        const { outcome } = first;
        // Over the bound: the same input twice more, and its cheapest answer counts. A major GC (its helper
        // threads count in the process's CPU time) or a burst elsewhere in the process is not the input's cost,
        // a planner that is slow on this input stays slow every time. (One such answer took 586 ms in a CI run.)
        let ms = first.ms;
        for (let again = 0; again < 2 && ms >= ANSWER_BOUND_MS; again++)
          ms = Math.min(ms, (await answer(() => service.validateGraph(input))).ms);
        slowest = Math.max(slowest, ms);
        expectTyped(outcome);
        if (outcome.ok) {
          const v = outcome.value as { valid: boolean; errors: unknown[] };
          if (v.valid) seen.valid += 1;
          else {
            seen.invalidGraph += 1;
            expect(v.errors.length).toBeGreaterThan(0);
            for (const g of v.errors) GraphError.parse(g);
          }
        } else seen.refused += 1;
        expect(ms).toBeLessThan(ANSWER_BOUND_MS);
      }),
      { numRuns: 10_000 },
    );
    // the generators reach every kind of answer, so the property is not vacuous
    expect(seen.valid).toBeGreaterThan(50);
    expect(seen.invalidGraph).toBeGreaterThan(500);
    expect(seen.refused).toBeGreaterThan(500);
    expect(slowest).toBeLessThan(ANSWER_BOUND_MS);
  }, 120_000);
});

describe('submitJob with a real Redis: a refused submission persists nothing', () => {
  let server: RedisHandle;
  let core: CoreHarness;
  let manifestOnly: TestWorker;

  beforeAll(async () => {
    server = await startRedis();
    core = await startCore(server.url, {
      startConsumer: false,
      quotas: { maxActiveJobs: 100_000, maxQueuedNodes: 1_000_000 },
    });
    manifestOnly = await new TestWorker({
      url: server.url,
      tasks: TASKS,
      handlers: {},
      resourceClasses: [],
    }).start();
  });
  afterAll(async () => {
    await manifestOnly.stop();
    await core.close();
    await server.stop();
  });

  /** Key names (less the fixture's own background keys) and the value of every shared key a submit writes. */
  async function state(redis: Redis) {
    const queues = Object.values(NODE_QUEUES);
    const names = (await redis.keys('*'))
      .filter(
        (k) =>
          k !== REDIS_KEYS.reports &&
          k !== REDIS_KEYS.workers &&
          !k.startsWith(REDIS_KEYS.worker('')) &&
          !queues.some((q) => k.endsWith(`${q}:meta`) || k.endsWith(`${q}:stalled-check`)),
      )
      .sort();
    const shared: Record<string, string> = {};
    for (const k of names.filter(
      (n) => n.startsWith(`${REDIS_PREFIX}:tenant:`) || n.startsWith(`${REDIS_PREFIX}:jobs:`),
    ))
      shared[k] = ((await redis.dumpBuffer(k)) ?? Buffer.alloc(0)).toString('hex');
    return { names, shared };
  }

  it('500 generated submissions: the refused ones change no key', async () => {
    let refused = 0;
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(hostileSubmission, async (input) => {
        const before = await state(core.redis);
        const { outcome } = await answer(() => core.service.submitJob('prop', input));
        expectTyped(outcome);
        if (outcome.ok) {
          accepted += 1;
          return;
        }
        refused += 1;
        expect(await state(core.redis)).toEqual(before);
      }),
      { numRuns: 500 },
    );
    expect(refused).toBeGreaterThan(300);
    expect(accepted).toBeGreaterThan(0);
  }, 120_000);
});
