import type { ActorState } from '#libs/contracts';

/**
 * What the worker counts. The runtime calls these hooks; worker-metrics-prom.ts binds them to the
 * process's prom-client registry (through #libs/observability), so no metrics SDK appears in the cores.
 */
export interface WorkerMetrics {
  attemptFinished(task: string, outcome: 'succeeded' | 'failed' | 'released' | 'lock_lost' | 'skipped', code?: string): void;
  runnerRestarted(actorId: string, reason: string): void;
  actorState(actorId: string, state: ActorState): void;
  actorQuarantined(actorId: string): void;
  reportRetried(type: string): void;
  reportUndeliverable(type: string): void;
  fetchWatchdogRecreated(actorId: string): void;
}

export const NO_WORKER_METRICS: WorkerMetrics = {
  attemptFinished: () => undefined,
  runnerRestarted: () => undefined,
  actorState: () => undefined,
  actorQuarantined: () => undefined,
  reportRetried: () => undefined,
  reportUndeliverable: () => undefined,
  fetchWatchdogRecreated: () => undefined,
};
