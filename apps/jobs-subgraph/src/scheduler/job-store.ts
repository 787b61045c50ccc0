import type { Redis } from 'ioredis';
import type { JobStatus } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { JOB_KEYS } from './keys.js';
import { parseStoredJob, parseStoredNode, type JobView, type StoredJob } from './job-record.js';
import { runScript } from './scripts.js';

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

/** A `jobs(after:)` cursor this list never handed out: the client's mistake (BAD_USER_INPUT). */
export class InvalidCursorError extends DomainError {
  constructor(cursor: string) {
    super('BAD_USER_INPUT', `"${cursor}" is not a cursor of this list`);
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
   * The tenant's jobs, newest first, filtered, `first` per page after `after`. Reads only the ids an index
   * holds for the filter (by status, by template, both, or all the tenant's jobs) and loads only the jobs it
   * returns: per index at most `first + 1` ids past the cursor (more only for ids created in the cursor's
   * millisecond), merged newest first; the (first + 1)-th tells hasNextPage.
   */
  async list(tenant: string, filter: JobListFilter, first: number, after?: string): Promise<JobPage> {
    const position = after ? decodeCursor(after) : null;
    if (after && !position) throw new InvalidCursorError(after);
    const candidates: IndexEntry[] = [];
    for (const key of indexKeys(tenant, filter))
      candidates.push(...(await this.idsAfter(key, position, first + 1)));
    candidates.sort(newestFirst);
    const page: JobPage['jobs'] = [];
    for (const { jobId, createdMs } of candidates.slice(0, first)) {
      const view = await this.view(jobId, tenant);
      // an index entry whose job was purged, or changed status, since the ids were read: left out of this page
      if (!view || !matches(view.job, filter)) continue;
      page.push({ view, cursor: encodeCursor(createdMs, jobId) });
    }
    return { jobs: page, hasNextPage: candidates.length > first };
  }

  /**
   * Up to `limit` entries of the zset after `position`, in (createdMs desc, jobId desc) order. Ids created in
   * the cursor's own millisecond (a handful: each submit is one Lua step) are read to find those past it.
   */
  private async idsAfter(key: string, position: IndexEntry | null, limit: number): Promise<IndexEntry[]> {
    const out: IndexEntry[] = [];
    if (position) {
      const tied = await this.redis.zrevrangebyscore(key, position.createdMs, position.createdMs);
      for (const jobId of tied)
        if (jobId < position.jobId && out.length < limit) out.push({ jobId, createdMs: position.createdMs });
    }
    if (out.length >= limit) return out;
    const max = position ? `(${position.createdMs}` : '+inf';
    const flat = await this.redis.zrevrangebyscore(
      key,
      max,
      '-inf',
      'WITHSCORES',
      'LIMIT',
      0,
      limit - out.length,
    );
    for (let i = 0; i < flat.length; i += 2) out.push({ jobId: flat[i]!, createdMs: Number(flat[i + 1]) });
    return out;
  }
}

interface IndexEntry {
  jobId: string;
  createdMs: number;
}

const newestFirst = (a: IndexEntry, b: IndexEntry) =>
  b.createdMs - a.createdMs || (a.jobId < b.jobId ? 1 : a.jobId > b.jobId ? -1 : 0);

/** The zsets whose union is exactly the jobs the filter selects. */
function indexKeys(tenant: string, filter: JobListFilter): string[] {
  const statuses = filter.status?.length ? [...new Set(filter.status)] : null;
  if (filter.template !== undefined) {
    if (!statuses) return [JOB_KEYS.tenantJobsByTemplate(tenant, filter.template)];
    return statuses.map((s) => JOB_KEYS.tenantJobsByTemplateStatus(tenant, filter.template!, s));
  }
  if (statuses) return statuses.map((s) => JOB_KEYS.tenantJobsByStatus(tenant, s));
  return [JOB_KEYS.tenantJobs(tenant)];
}

function matches(job: StoredJob, filter: JobListFilter): boolean {
  if (filter.status?.length && !filter.status.includes(job.status)) return false;
  if (filter.template !== undefined && job.template !== filter.template) return false;
  return true;
}

/** HGETALL's reply as Lua returns it (field, value, field, value…) as an object. */
function hashOf(flat: string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!;
  return hash;
}
