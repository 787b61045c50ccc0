import type { Redis } from 'ioredis';
import { JobListPosition, type JobStatus } from '#libs/contracts';
import { DomainError } from '#libs/errors';
import { JOB_KEYS } from './keys.js';
import { readJobViews, type JobReadRecord, type JobReadView } from './job-views.js';

export interface JobListFilter {
  status?: readonly JobStatus[];
  template?: string;
}

export interface JobPage {
  jobs: Array<{ view: JobReadView; cursor: string }>;
  hasNextPage: boolean;
}

/** Position in a tenant's job list (newest first): opaque to clients. */
const encodeCursor = (createdMs: number, jobId: string) =>
  Buffer.from(`${createdMs}:${jobId}`).toString('base64url');
/** The position a cursor names, or null: a forged number (past 2^53, Infinity) never reaches Redis. */
function decodeCursor(cursor: string): JobListPosition | null {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const sep = text.indexOf(':');
  if (sep < 0) return null;
  const r = JobListPosition.safeParse({ createdMs: text.slice(0, sep), jobId: text.slice(sep + 1) });
  return r.success ? r.data : null;
}

/** A `jobs(after:)` cursor this list never handed out: the client's mistake (BAD_USER_INPUT). */
export class InvalidCursorError extends DomainError {
  constructor(cursor: string) {
    super('BAD_USER_INPUT', `"${cursor}" is not a cursor of this list`);
    this.name = 'InvalidCursorError';
  }
}

/**
 * The tenant's jobs, newest first, filtered, `first` per page after `after`. Reads only the ids an index
 * holds for the filter (by status, by template, both, or all the tenant's jobs): per index at most
 * `first + 1` ids past the cursor (more only for ids created in the cursor's millisecond), every index in
 * the same round trip, merged newest first; the (first + 1)-th tells hasNextPage. Then the page's jobs and
 * their nodes in one more round trip (readJobViews), whatever the page size.
 */
export async function readJobPage(
  redis: Redis,
  tenant: string,
  filter: JobListFilter,
  first: number,
  after?: string,
): Promise<JobPage> {
  const position = after ? decodeCursor(after) : null;
  if (after && !position) throw new InvalidCursorError(after);
  const perIndex = await Promise.all(
    indexKeys(tenant, filter).map((key) => idsAfter(redis, key, position, first + 1)),
  );
  const candidates = perIndex.flat().sort(newestFirst);
  const chosen = candidates.slice(0, first);
  const views = await readJobViews(
    redis,
    tenant,
    chosen.map((c) => c.jobId),
  );
  const page: JobPage['jobs'] = [];
  chosen.forEach(({ jobId, createdMs }, i) => {
    const view = views[i];
    // an index entry whose job was purged, or changed status, since the ids were read: left out of this page
    if (!view || !matches(view.job, filter)) return;
    page.push({ view, cursor: encodeCursor(createdMs, jobId) });
  });
  return { jobs: page, hasNextPage: candidates.length > first };
}

interface IndexEntry {
  jobId: string;
  createdMs: number;
}

/**
 * Up to `limit` entries of the zset after `position`, in (createdMs desc, jobId desc) order. Ids created in
 * the cursor's own millisecond (a handful: each submit is one Lua step) are read to find those past it; both
 * reads are sent at once.
 */
async function idsAfter(
  redis: Redis,
  key: string,
  position: IndexEntry | null,
  limit: number,
): Promise<IndexEntry[]> {
  const max = position ? `(${position.createdMs}` : '+inf';
  const [tied, flat] = await Promise.all([
    position ? redis.zrevrangebyscore(key, position.createdMs, position.createdMs) : [],
    redis.zrevrangebyscore(key, max, '-inf', 'WITHSCORES', 'LIMIT', 0, limit),
  ]);
  const out: IndexEntry[] = [];
  if (position)
    for (const jobId of tied)
      if (jobId < position.jobId && out.length < limit) out.push({ jobId, createdMs: position.createdMs });
  for (let i = 0; i < flat.length && out.length < limit; i += 2)
    out.push({ jobId: flat[i]!, createdMs: Number(flat[i + 1]) });
  return out;
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

function matches(job: JobReadRecord, filter: JobListFilter): boolean {
  if (filter.status?.length && !filter.status.includes(job.status)) return false;
  if (filter.template !== undefined && job.template !== filter.template) return false;
  return true;
}
