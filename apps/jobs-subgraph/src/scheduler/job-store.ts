import type { Redis } from 'ioredis';
import { JOB_KEYS } from './keys.js';
import { parseStoredJob, parseStoredNode, type JobView, type StoredJob } from './job-record.js';
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
