import { z } from 'zod';

// The one definition of every status value; GraphQL enums are built from these.
export const JobStatus = z.enum(['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED']);
export type JobStatus = z.infer<typeof JobStatus>;

export const NodeStatus = z.enum([
  'PENDING',
  'QUEUED',
  'RUNNING',
  'RETRYING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
]);
export type NodeStatus = z.infer<typeof NodeStatus>;

export const JobEventType = z.enum([
  'JOB_QUEUED',
  'JOB_STARTED',
  'JOB_SUCCEEDED',
  'JOB_FAILED',
  'JOB_CANCELLED',
  'NODE_QUEUED',
  'NODE_STARTED',
  'NODE_PROGRESS',
  'NODE_RETRYING',
  'NODE_SUCCEEDED',
  'NODE_FAILED',
  'NODE_CANCELLED',
  'ARTIFACT_CREATED',
  'LOG',
]);
export type JobEventType = z.infer<typeof JobEventType>;

export const TERMINAL_JOB_STATUSES: ReadonlySet<JobStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
export const TERMINAL_NODE_STATUSES: ReadonlySet<NodeStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
export const TERMINAL_JOB_EVENTS: ReadonlySet<JobEventType> = new Set([
  'JOB_SUCCEEDED',
  'JOB_FAILED',
  'JOB_CANCELLED',
]);

export const isTerminalJobStatus = (s: JobStatus): boolean => TERMINAL_JOB_STATUSES.has(s);
export const isTerminalNodeStatus = (s: NodeStatus): boolean => TERMINAL_NODE_STATUSES.has(s);
