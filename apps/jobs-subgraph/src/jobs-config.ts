import { subgraphAuthEnv, subgraphAuthSettings } from '#libs/auth';
import {
  isProduction,
  loadConfig,
  nonNegativeInt,
  portsEnv,
  positiveInt,
  redisEnv,
  runtimeEnv,
} from '#libs/config';
import { plannerEnv } from './planner/planner-env.js';

/** Scheduler, events and subscription settings (durations in ms). */
export const schedulerEnv = {
  /** Delay before the first retry; doubles per failure (with jitter) up to the cap. */
  SCHEDULER_BACKOFF_BASE_MS: positiveInt(1_000),
  SCHEDULER_BACKOFF_CAP_MS: positiveInt(60_000),
  /** A node no worker started within this fails UNSCHEDULABLE. */
  SCHEDULE_TO_START_MS: positiveInt(300_000),
  /** A job not finished within this after submit (or retry) fails DEADLINE_EXCEEDED. */
  JOB_DEADLINE_MS: positiveInt(24 * 3_600_000),
  /** How often the leader reconciles and checks deadlines. */
  RECONCILE_INTERVAL_MS: positiveInt(5_000),
  /** The leader lease; a dead leader is replaced within this. */
  SCHEDULER_LEASE_MS: positiveInt(10_000),
  /** Reports pending this long on a dead replica are claimed by a live one. */
  REPORT_CLAIM_IDLE_MS: positiveInt(30_000),
  /** Events buffered per subscriber (NODE_PROGRESS coalesces past half of it). */
  SUBSCRIBER_BUFFER: positiveInt(512),
  /** Finished jobs (and all their keys but artifacts) are deleted this many days after finishing; 0 keeps them. */
  JOB_RETENTION_DAYS: nonNegativeInt(30),
  /** Finished jobs the leader deletes per pass at most. */
  JOB_RETENTION_BATCH: positiveInt(100),
};

export const jobsSubgraphEnv = {
  ...runtimeEnv,
  ...redisEnv,
  ...portsEnv,
  ...plannerEnv,
  ...schedulerEnv,
  ...subgraphAuthEnv,
};

/** The environment, parsed; `auth` is who may call (SUBGRAPH_ACCEPT and its settings, checked together). */
export function loadJobsSubgraphConfig(env: NodeJS.ProcessEnv = process.env) {
  const c = loadConfig(jobsSubgraphEnv, env);
  return { ...c, auth: subgraphAuthSettings(c, isProduction(c)) };
}
export type JobsSubgraphConfig = ReturnType<typeof loadJobsSubgraphConfig>;
