import type { Redis } from 'ioredis';
import { REDIS_KEYS, type JsonObject, type SubmitJobInput } from '#libs/contracts';
import { waitFor } from '#libs/testing';
import type { CoreHarness } from './harness.js';
import type { JobView } from '../src/scheduler/job-record.js';
import type { StreamFollower } from '../src/events/stream-follower.js';
import type { JobEvent } from '#libs/contracts';

/** A → B, A → C, B + C → D over the test arithmetic tasks. */
export const diamond = (seed = 1): SubmitJobInput => ({
  graph: {
    nodes: [
      { id: 'A', task: 'test.emit', inputs: { value: seed } },
      { id: 'B', task: 'test.add', inputs: { a: { $ref: 'A.outputs.value' }, b: 10 } },
      { id: 'C', task: 'test.add', inputs: { a: { $ref: 'A.outputs.value' }, b: 100 } },
      {
        id: 'D',
        task: 'test.join',
        inputs: { left: { $ref: 'B.outputs.sum' }, right: { $ref: 'C.outputs.sum' } },
      },
    ],
  },
});

export const single = (
  task: string,
  inputs: JsonObject,
  extra: Partial<SubmitJobInput> = {},
): SubmitJobInput => ({
  graph: { nodes: [{ id: 'only', task, inputs }] },
  ...extra,
});

/** The events of a one-node job whose node succeeds at its first attempt, in order. */
export const ONE_NODE_SUCCESS_EVENTS = [
  'JOB_QUEUED',
  'NODE_QUEUED',
  'JOB_STARTED',
  'NODE_STARTED',
  'NODE_SUCCEEDED',
  'JOB_SUCCEEDED',
];

/** The fields every report of one attempt carries: node 'only', attempt 1 and worker 'w' unless given. */
export const reportFields = (
  jobId: string,
  tenant: string,
  over: { nodeId?: string; attempt?: number; workerId?: string } = {},
) => ({ jobId, tenant, nodeId: 'only', attempt: 1, workerId: 'w', at: new Date().toISOString(), ...over });

export async function waitForJob(
  core: CoreHarness,
  tenant: string,
  jobId: string,
  done: (v: JobView) => boolean,
  timeoutMs = 20_000,
): Promise<JobView> {
  return waitFor(
    async () => {
      const v = await core.service.job(tenant, jobId);
      return v && done(v) ? v : null;
    },
    { timeoutMs, what: `job ${jobId}` },
  );
}

/** Reads every event of the job from its stream (not through a subscriber). */
export async function allEvents(core: CoreHarness, jobId: string): Promise<JobEvent[]> {
  const { EventLog } = await import('../src/events/event-log.js');
  return (await new EventLog(core.redis).jobEventsAfter(jobId, 0, 100_000)).map((e) => e.event);
}

export async function drain(follower: StreamFollower): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of follower) out.push(e);
  return out;
}

/**
 * Reads the report entries not yet delivered as consumer `name` of the scheduler's group (made if missing) and
 * answers their ids, without applying them: a replica that dies before applying, or a busy one (ack: true).
 */
export async function readReportsAs(
  client: Redis,
  name: string,
  opts: { ack?: boolean } = {},
): Promise<string[]> {
  await client
    .xgroup('CREATE', REDIS_KEYS.reports, REDIS_KEYS.reportsGroup, '0', 'MKSTREAM')
    .catch(() => undefined);
  const read = (await client.xreadgroup(
    'GROUP',
    REDIS_KEYS.reportsGroup,
    name,
    'STREAMS',
    REDIS_KEYS.reports,
    '>',
  )) as Array<[string, Array<[string, string[]]>]> | null;
  const ids = (read?.[0]?.[1] ?? []).map(([id]) => id);
  if (opts.ack && ids.length) await client.xack(REDIS_KEYS.reports, REDIS_KEYS.reportsGroup, ...ids);
  return ids;
}
