import type { Redis } from 'ioredis';
import { defineScripts } from '#libs/redis';
import { parseContract } from '#libs/contracts';
import { JOB_KEYS } from './keys.js';
import { StoredJob, StoredNode } from './job-record.js';

/**
 * What the API shows of a job and its nodes, read in one round trip for any number of jobs
 * (`readJobViews-n.lua`): only these fields leave Redis (a node's inputs and output schema stay there), and
 * each is parsed once, with the same rules as the scheduler's records (StoredJob / StoredNode picked).
 * Read-only: writes go through the scheduler's Lua transitions.
 */
export const JobReadRecord = StoredJob.pick({
  id: true,
  tenant: true,
  status: true,
  template: true,
  labels: true,
  error: true,
  createdAt: true,
  startedAt: true,
  finishedAt: true,
});
export type JobReadRecord = ReturnType<typeof JobReadRecord.parse>;

export const NodeReadRecord = StoredNode.pick({
  id: true,
  task: true,
  taskVersion: true,
  status: true,
  progress: true,
  message: true,
  attempt: true,
  outputs: true,
  error: true,
  workerId: true,
  startedAt: true,
  finishedAt: true,
  upstream: true,
});
export type NodeReadRecord = ReturnType<typeof NodeReadRecord.parse>;

/** A job as the API shows it, nodes in plan order. A full JobView (job-record.ts) is one too. */
export interface JobReadView {
  job: JobReadRecord;
  nodes: NodeReadRecord[];
}

// id, tenant and nodeIds first: the script checks the first two and walks the third
const JOB_FIELDS = [
  'id',
  'tenant',
  'nodeIds',
  ...Object.keys(JobReadRecord.shape).filter((f) => f !== 'id' && f !== 'tenant'),
];
const NODE_FIELDS = Object.keys(NodeReadRecord.shape);
const SCRIPT_ARGS = [String(JOB_FIELDS.length), ...JOB_FIELDS, ...NODE_FIELDS];

const JOB_VIEW_SCRIPTS = defineScripts({
  label: 'job views',
  dir: new URL('./lua/', import.meta.url),
  names: ['readJobViews'] as const,
});

/** Values in field order (nil where absent) as a hash without the absent fields. */
function hashOf(fields: readonly string[], values: ReadonlyArray<string | null>): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i < fields.length; i++) {
    const v = values[i];
    if (v !== null && v !== undefined) hash[fields[i]!] = v;
  }
  return hash;
}

/**
 * Many jobs of `tenant` with their nodes, in order (null for a missing job or another tenant's): one script
 * call whatever the count.
 */
export async function readJobViews(
  redis: Redis,
  tenant: string,
  jobIds: readonly string[],
): Promise<Array<JobReadView | null>> {
  if (jobIds.length === 0) return [];
  const rows = (await JOB_VIEW_SCRIPTS.run(
    redis,
    'readJobViews',
    jobIds.map((id) => JOB_KEYS.job(id)),
    [tenant, ...SCRIPT_ARGS],
  )) as Array<Array<Array<string | null>>>;
  return rows.map((row) => {
    if (row.length === 0) return null;
    const [job, ...nodes] = row;
    return {
      job: parseContract(JobReadRecord, 'StoredJob', hashOf(JOB_FIELDS, job!)),
      nodes: nodes.map((n) => parseContract(NodeReadRecord, 'StoredNode', hashOf(NODE_FIELDS, n))),
    };
  });
}

export { JOB_VIEW_SCRIPTS };
