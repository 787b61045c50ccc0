import type { Redis } from 'ioredis';
import { JOB_KEYS } from './keys.js';
import { parseStoredJob, parseStoredNode, type JobView, type StoredJob } from './job-record.js';
import { runScript } from './scripts.js';
import { readJobPage, type JobListFilter, type JobPage } from './job-page.js';
import { readJobViews, type JobReadView } from './job-views.js';

export { InvalidCursorError, type JobListFilter, type JobPage } from './job-page.js';

/** Reads of job state. Writes go only through the scheduler's Lua transitions. */
export class JobStore {
  constructor(private readonly redis: Redis) {}

  async job(jobId: string): Promise<StoredJob | null> {
    const hash = await this.redis.hgetall(JOB_KEYS.job(jobId));
    return hash.id ? parseStoredJob(hash) : null;
  }

  /** The job and its nodes, or null (also for another tenant's job when `tenant` is given). */
  async view(jobId: string, tenant?: string): Promise<JobView | null> {
    const job = await this.job(jobId);
    if (!job || (tenant !== undefined && job.tenant !== tenant)) return null;
    const pipeline = this.redis.pipeline();
    for (const id of job.nodeIds) pipeline.hgetall(JOB_KEYS.node(jobId, id));
    const results = (await pipeline.exec()) ?? [];
    const nodes = results.map(([err, hash]) => {
      if (err) throw err;
      return parseStoredNode(hash as Record<string, string>);
    });
    return { job, nodes };
  }

  /**
   * Many jobs with their nodes, in order (null for missing or another tenant's): one round trip whatever the
   * count (`viewJobs-n.lua` reads each job and its nodes; another tenant's job never leaves Redis), for
   * `_entities` batches.
   */
  async viewMany(jobIds: readonly string[], tenant: string): Promise<Array<JobView | null>> {
    if (jobIds.length === 0) return [];
    const rows = (await runScript(
      this.redis,
      'viewJobs',
      jobIds.map((id) => JOB_KEYS.job(id)),
      [tenant],
    )) as string[][][];
    return rows.map((row) => {
      if (row.length === 0) return null;
      const [jobFlat, ...nodeFlats] = row;
      return {
        job: parseStoredJob(hashOf(jobFlat!)),
        nodes: nodeFlats.map((n) => parseStoredNode(hashOf(n))),
      };
    });
  }

  /**
   * The tenant's jobs, newest first, filtered, `first` per page after `after`, as the API shows them: the
   * index reads in one round trip, the page's jobs with their nodes in another (job-page.ts).
   */
  list(tenant: string, filter: JobListFilter, first: number, after?: string): Promise<JobPage> {
    return readJobPage(this.redis, tenant, filter, first, after);
  }

  /** Many jobs of `tenant` as the API shows them, in order (null where missing): one round trip (`_entities`). */
  readViews(jobIds: readonly string[], tenant: string): Promise<Array<JobReadView | null>> {
    return readJobViews(this.redis, tenant, jobIds);
  }
}

/** HGETALL's reply as Lua returns it (field, value, field, value…) as an object. */
function hashOf(flat: string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!;
  return hash;
}
