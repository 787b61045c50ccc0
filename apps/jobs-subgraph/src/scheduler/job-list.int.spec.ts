import { Redis } from 'ioredis';
import type { JobStatus } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { startRedis, type RedisHandle } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import type { PlannedJob } from '../planner/planner.js';
import type { JobListFilter } from './job-store.js';
import { JOB_VIEW_SCRIPTS } from './job-views.js';
import { JOB_KEYS } from './keys.js';
import { Scheduler } from './scheduler.js';

const T = 'lister';

/** A one-node plan, from a template or not (the scheduler stores what the planner would have given it). */
const plan = (template?: string): PlannedJob => ({
  ...(template ? { template, templateVersion: 1 } : {}),
  nodes: [
    {
      id: 'only',
      task: 'test.emit',
      taskVersion: '1.0.0',
      resourceClass: 'cpu',
      inputs: { value: 1 },
      upstream: [],
      attempts: 1,
      timeoutMs: 1_000,
      manifest: TEST_TASKS.emit,
    },
  ],
});

/** Commands the server ran since the last reset, by name (INFO commandstats). */
async function commandCounts(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe('jobs(filter:) reads indexes, never the whole job set', () => {
  let server: RedisHandle;
  let core: CoreHarness;
  /** Every job made, newest first, with what the filters look at. */
  const made: Array<{ id: string; status: JobStatus; template?: string }> = [];

  beforeAll(async () => {
    server = await startRedis();
    core = await startCore(server.url, {
      startConsumer: false,
      quotas: { maxActiveJobs: 10_000, maxQueuedNodes: 10_000 },
      service: { maxPageSize: 50 },
    });
    // 400 jobs: a few from template "rare", most QUEUED, every 7th cancelled
    for (let i = 0; i < 400; i++) {
      const template = i % 50 === 0 ? 'rare' : i % 2 === 0 ? 'common' : undefined;
      const { jobId } = await core.scheduler.submit(T, { graph: { nodes: [] } }, plan(template));
      let status: JobStatus = 'QUEUED';
      if (i % 7 === 0) {
        await core.scheduler.cancel(jobId);
        status = 'CANCELLED';
      }
      made.push({ id: jobId, status, ...(template ? { template } : {}) });
    }
    // 30 jobs created in one and the same millisecond (cursors must order them by id)
    const sameMs = Date.now() + 60_000;
    const frozen = new Scheduler({
      redis: core.redis,
      enqueuer: core.enqueuer,
      config: { backoff: { baseMs: 50, capMs: 1_000 }, jobDeadlineMs: 600_000 },
      logger: core.logger,
      now: () => sameMs,
    });
    for (let i = 0; i < 30; i++) {
      const template = i % 3 === 0 ? 'rare' : undefined;
      const { jobId } = await frozen.submit(T, { graph: { nodes: [] } }, plan(template));
      made.push({ id: jobId, status: 'QUEUED', ...(template ? { template } : {}) });
    }
    // newest first; in one millisecond, by id descending
    const score = new Map<string, number>();
    for (const j of made) score.set(j.id, Number(await core.redis.zscore(JOB_KEYS.tenantJobs(T), j.id)));
    made.sort((a, b) => score.get(b.id)! - score.get(a.id)! || (a.id < b.id ? 1 : -1));
    expect(new Set(made.map((j) => score.get(j.id))).size).toBeLessThanOrEqual(made.length - 29);
    // another tenant's jobs never show
    await core.scheduler.submit('someone-else', { graph: { nodes: [] } }, plan('rare'));
    await JOB_VIEW_SCRIPTS.loadAll(core.redis); // as at boot: every page below is one EVALSHA
  }, 60_000);
  afterAll(async () => {
    await core.close();
    await server.stop();
  });

  /** Every page of the filter, `first` at a time; each page's Redis commands counted. */
  async function allPages(filter: JobListFilter, first: number) {
    const ids: string[] = [];
    const perPage: Array<{
      returned: number;
      hgetall: number;
      hmget: number;
      scripts: number;
      zreads: number;
    }> = [];
    let after: string | undefined;
    for (let guard = 0; guard < 1_000; guard++) {
      await core.redis.config('RESETSTAT');
      const page = await core.service.jobs(T, filter, first, after);
      const counts = await commandCounts(core.redis);
      perPage.push({
        returned: page.jobs.length,
        hgetall: counts.hgetall ?? 0,
        hmget: counts.hmget ?? 0,
        scripts: (counts.evalsha ?? 0) + (counts.eval ?? 0),
        zreads: (counts.zrevrangebyscore ?? 0) + (counts.zrange ?? 0) + (counts.zrangebyscore ?? 0),
      });
      ids.push(...page.jobs.map((j) => j.view.job.id));
      if (!page.hasNextPage) return { ids, perPage };
      after = page.jobs.at(-1)!.cursor;
    }
    throw new Error('pagination did not end');
  }

  const expected = (filter: JobListFilter) =>
    made
      .filter((j) => !filter.status?.length || filter.status.includes(j.status))
      .filter((j) => filter.template === undefined || j.template === filter.template)
      .map((j) => j.id);

  it.each<[string, JobListFilter, number]>([
    ['no filter', {}, 50],
    ['one status', { status: ['CANCELLED'] }, 10],
    ['two statuses', { status: ['CANCELLED', 'QUEUED'] }, 25],
    ['a rare template', { template: 'rare' }, 3],
    ['through the shared millisecond', { status: ['QUEUED'] }, 4],
    ['template and status', { template: 'common', status: ['CANCELLED'] }, 4],
    ['a status nobody has', { status: ['FAILED'] }, 10],
  ])(
    '%s: every matching job once, newest first, each page loading only the jobs it returns',
    async (_n, filter, first) => {
      const { ids, perPage } = await allPages(filter, first);
      expect(ids).toEqual(expected(filter));
      for (const p of perPage) {
        // one script reads the page: one HMGET for the job and one for its node, per returned job; nothing
        // loaded that is not returned
        expect(p.scripts).toBe(p.returned > 0 ? 1 : 0);
        expect(p.hmget).toBe(p.returned * 2);
        expect(p.hgetall).toBe(0);
        // index reads: per index, the cursor's millisecond and the page (+1) after it
        expect(p.zreads).toBeLessThanOrEqual(2 * (filter.status?.length ?? 1));
      }
    },
  );

  it('a filtered first page costs the same with 430 jobs as it would with 10', async () => {
    await core.redis.config('RESETSTAT');
    const page = await core.service.jobs(T, { template: 'common', status: ['CANCELLED'] }, 2);
    expect(page.jobs).toHaveLength(2);
    expect(page.hasNextPage).toBe(true);
    const counts = await commandCounts(core.redis);
    expect(counts.hmget).toBe(4);
    expect(counts.evalsha).toBe(1);
    expect(counts.hgetall).toBeUndefined();
    expect(counts.zrevrangebyscore).toBe(1);
  });

  it('follows status changes: a job leaves its old status index in the same step', async () => {
    const queued = made.find((j) => j.status === 'QUEUED')!;
    await core.scheduler.cancel(queued.id);
    queued.status = 'CANCELLED';
    const { ids } = await allPages({ status: ['QUEUED'] }, 50);
    expect(ids).not.toContain(queued.id);
    expect((await allPages({ status: ['CANCELLED'] }, 50)).ids).toEqual(expected({ status: ['CANCELLED'] }));
  });

  it('caps first (JOBS_PAGE_MAX) and bounds the template filter with BAD_USER_INPUT', async () => {
    const e = await core.service.jobs(T, {}, 51).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(DomainError);
    expect((e as DomainError).code).toBe('BAD_USER_INPUT');
    expect((e as DomainError).extensions).toEqual({ max: 50 });
    const t = await core.service.jobs(T, { template: 'x'.repeat(129) }, 1).catch((err: unknown) => err);
    expect((t as DomainError).code).toBe('BAD_USER_INPUT');
    const c = await core.service.jobs(T, {}, 1, 'not-a-cursor').catch((err: unknown) => err);
    expect((c as DomainError).code).toBe('BAD_USER_INPUT');
  });

  // a forged number used to reach Redis as "Infinity" or "1e+299" (which Redis reads as a score) and answer a page
  it.each([
    ['a createdMs past any number (Infinity)', `${'9'.repeat(400)}:job`],
    ['a createdMs past the safe integers', `${2 ** 53 + 2}:job`],
    ['a createdMs of 300 digits (1e+299)', `1${'0'.repeat(299)}:job`],
    ['no job id', '1700000000000:'],
    ['a job id no job has (300 characters)', `1700000000000:${'x'.repeat(300)}`],
  ])('refuses a forged cursor with %s: BAD_USER_INPUT, nothing read', async (_what, text) => {
    const forged = Buffer.from(text, 'utf8').toString('base64url');
    await core.redis.config('RESETSTAT');
    const e = await core.service.jobs(T, {}, 5, forged).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(DomainError);
    expect((e as DomainError).code).toBe('BAD_USER_INPUT');
    const counts = await commandCounts(core.redis);
    expect(counts.zrevrangebyscore).toBeUndefined();
    expect(counts.evalsha).toBeUndefined();
  });
});
