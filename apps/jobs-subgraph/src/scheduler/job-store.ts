import type { Redis } from 'ioredis';
import type { JobStatus } from '#libs/contracts';
import { JOB_KEYS } from './keys.js';
import { parseStoredJob, parseStoredNode, type JobView, type StoredJob } from './job-record.js';

export interface JobListFilter {
  status?: readonly JobStatus[];
  template?: string;
}

export interface JobPage {
  jobs: Array<{ view: JobView; cursor: string }>;
  hasNextPage: boolean;
}

/** Position in a tenant's job list (newest first): opaque to clients. */
const encodeCursor = (createdMs: number, jobId: string) =>
  Buffer.from(`${createdMs}:${jobId}`).toString('base64url');
function decodeCursor(cursor: string): { createdMs: number; jobId: string } | null {
  const m = /^(\d+):(.+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? { createdMs: Number(m[1]), jobId: m[2]! } : null;
}

export class InvalidCursorError extends Error {
  constructor(cursor: string) {
    super(`"${cursor}" is not a cursor of this list`);
    this.name = 'InvalidCursorError';
  }
}

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
   * Many jobs with their nodes, in order (null for missing or another tenant's): two pipelined round trips
   * whatever the count (the job hashes, then all their nodes), for `_entities` batches.
   */
  async viewMany(jobIds: readonly string[], tenant: string): Promise<Array<JobView | null>> {
    if (jobIds.length === 0) return [];
    const jobsPipeline = this.redis.pipeline();
    for (const id of jobIds) jobsPipeline.hgetall(JOB_KEYS.job(id));
    const jobs = ((await jobsPipeline.exec()) ?? []).map(([err, hash]) => {
      if (err) throw err;
      const h = hash as Record<string, string>;
      const job = h.id ? parseStoredJob(h) : null;
      return job && job.tenant === tenant ? job : null;
    });
    const nodesPipeline = this.redis.pipeline();
    for (const job of jobs)
      for (const id of job?.nodeIds ?? []) nodesPipeline.hgetall(JOB_KEYS.node(job!.id, id));
    const nodeHashes = jobs.some((j) => j?.nodeIds.length) ? ((await nodesPipeline.exec()) ?? []) : [];
    let next = 0;
    return jobs.map((job) => {
      if (!job) return null;
      const nodes = job.nodeIds.map(() => {
        const [err, hash] = nodeHashes[next++]!;
        if (err) throw err;
        return parseStoredNode(hash as Record<string, string>);
      });
      return { job, nodes };
    });
  }

  /** The tenant's jobs, newest first, filtered, `first` per page after `after`. */
  async list(tenant: string, filter: JobListFilter, first: number, after?: string): Promise<JobPage> {
    const key = JOB_KEYS.tenantJobs(tenant);
    let position = after ? decodeCursor(after) : null;
    if (after && !position) throw new InvalidCursorError(after);
    const page: JobPage['jobs'] = [];
    const batch = Math.max(first + 1, 50);
    for (;;) {
      // inclusive of the cursor's score (jobs created in the same ms), skipping up to and including it
      const max = position ? String(position.createdMs) : '+inf';
      const flat = await this.redis.zrevrangebyscore(key, max, '-inf', 'WITHSCORES', 'LIMIT', 0, batch);
      if (flat.length === 0) return { jobs: page, hasNextPage: false };
      let last: { createdMs: number; jobId: string } | null = null;
      for (let i = 0; i < flat.length; i += 2) {
        const jobId = flat[i]!;
        const createdMs = Number(flat[i + 1]);
        if (position && createdMs === position.createdMs && jobId >= position.jobId) continue;
        last = { createdMs, jobId };
        const view = await this.view(jobId, tenant);
        if (!view || !matches(view.job, filter)) continue;
        if (page.length === first) return { jobs: page, hasNextPage: true };
        page.push({ view, cursor: encodeCursor(createdMs, jobId) });
      }
      // a short batch is the end of the list
      if (flat.length / 2 < batch || !last) return { jobs: page, hasNextPage: false };
      position = last;
    }
  }
}

function matches(job: StoredJob, filter: JobListFilter): boolean {
  if (filter.status?.length && !filter.status.includes(job.status)) return false;
  if (filter.template !== undefined && job.template !== filter.template) return false;
  return true;
}
