import { ActorState } from '#libs/contracts';
import { metrics, SECONDS_BUCKETS } from '#libs/observability';

/**
 * What the worker counts. The runtime calls these hooks; createWorkerMetrics (below) binds them to the
 * process's prom-client registry (through #libs/observability), so no metrics SDK appears in the cores.
 */
export interface WorkerMetrics {
  attemptFinished(
    task: string,
    outcome: 'succeeded' | 'failed' | 'released' | 'lock_lost' | 'skipped',
    code?: string,
  ): void;
  /** blame: who lost the runner ('attempt', 'platform' or 'actor'; only 'actor' counts toward quarantine). */
  runnerRestarted(actorId: string, blame: string): void;
  actorState(actorId: string, state: ActorState): void;
  /** untilMs: when the cool-down ends and the actor probes its runner. */
  actorQuarantined(actorId: string, untilMs: number): void;
  quarantineProbe(actorId: string, outcome: 'recovered' | 'failed'): void;
  /**
   * A tenant's attempt killed its runner; a tenant was throttled. Counted without the tenant: the worker's
   * /metrics (its health port) is not tenant-scoped, and a label per tenant grows without bound. Which tenant
   * is in the log line that comes with each (TenantGuard), as on every other service (docs/metrics.md).
   */
  tenantRunnerKilled(): void;
  tenantThrottled(): void;
  reportRetried(type: string): void;
  reportUndeliverable(type: string): void;
  fetchWatchdogRecreated(actorId: string): void;
  /** An actor leased an attempt that waited this long in the queue since it became eligible. */
  attemptLeased(task: string, waitedMs: number): void;
  /** The runner ran an attempt (started report → outcome) for this long. */
  attemptRan(task: string, outcome: 'succeeded' | 'failed' | 'released', ranMs: number): void;
  /** An actor handed the unstarted rest of a lease back to the tail of its queue (decision 0007). */
  leaseHandedBack(reason: LeaseHandBackReason): void;
  /**
   * An actor let a lease go because, when it read the lease's BullMQ lock before starting attempts of it, the
   * lock was not its own (it was paused past the lock and the lease was taken back and re-added meanwhile).
   */
  leaseNotOwned(): void;
}

/** Why a lease's rest went back: its time slice was over, or the actor stopped leasing. */
export type LeaseHandBackReason = 'slice' | 'draining' | 'quarantined';

export const NO_WORKER_METRICS: WorkerMetrics = {
  attemptFinished: () => undefined,
  runnerRestarted: () => undefined,
  actorState: () => undefined,
  actorQuarantined: () => undefined,
  quarantineProbe: () => undefined,
  tenantRunnerKilled: () => undefined,
  tenantThrottled: () => undefined,
  reportRetried: () => undefined,
  reportUndeliverable: () => undefined,
  fetchWatchdogRecreated: () => undefined,
  attemptLeased: () => undefined,
  attemptRan: () => undefined,
  leaseHandedBack: () => undefined,
  leaseNotOwned: () => undefined,
};

/**
 * Wait of an attempt in the queue: from when its BullMQ job became eligible (created + delay) to `at`, when the
 * actor came to the attempt (by default when the job was leased: its first attempt). A later attempt of a lease
 * also waited while the actor ran the ones before it; one handed back waited since the lease was first added
 * (a hand-back keeps the job's timestamp and delays it by 0).
 */
export function queueWaitMs(
  job: { timestamp: number; delay?: number; processedOn?: number },
  at: number = job.processedOn ?? Date.now(),
): number {
  return Math.max(0, at - job.timestamp - (job.delay ?? 0));
}

/** The worker's metrics on the process's prom-client registry. */
export function createWorkerMetrics(): WorkerMetrics {
  const attempts = metrics.counter({
    name: 'switchyard_worker_attempts_total',
    help: 'Node attempts finished by this worker, by task, outcome and error code',
    labelNames: ['task', 'outcome', 'code'] as const,
  });
  const restarts = metrics.counter({
    name: 'switchyard_worker_runner_restarts_total',
    help: 'Task runner restarts (after a kill, crash or failed boot), by actor and who lost the runner',
    labelNames: ['actor', 'blame'] as const,
  });
  const states = metrics.gauge({
    name: 'switchyard_worker_actor_state',
    help: '1 for the current state of each actor, 0 for the others',
    labelNames: ['actor', 'state'] as const,
  });
  const quarantines = metrics.counter({
    name: 'switchyard_worker_quarantines_total',
    help: 'Actors quarantined because their restart intensity was exceeded (or a probe failed)',
    labelNames: ['actor'] as const,
  });
  const quarantinedUntil = metrics.gauge({
    name: 'switchyard_worker_quarantine_until_seconds',
    help: 'Epoch seconds at which a quarantined actor probes its runner again (0: not quarantined)',
    labelNames: ['actor'] as const,
  });
  const probes = metrics.counter({
    name: 'switchyard_worker_quarantine_probes_total',
    help: 'Runner probes of quarantined actors after their cool-down, by outcome (recovered, failed)',
    labelNames: ['actor', 'outcome'] as const,
  });
  const tenantKills = metrics.counter({
    name: 'switchyard_worker_tenant_runner_kills_total',
    help: "Task runners killed because of a tenant's attempt (timeout, stuck, ignored cancel, crash, OOM)",
  });
  const tenantThrottles = metrics.counter({
    name: 'switchyard_worker_tenant_throttles_total',
    help: 'Times a tenant was throttled (its attempts failed fast with TENANT_THROTTLED) for killing runners',
  });
  const reportRetries = metrics.counter({
    name: 'switchyard_worker_report_retries_total',
    help: 'NodeReport writes that failed and were retried',
    labelNames: ['type'] as const,
  });
  const undeliverable = metrics.counter({
    name: 'switchyard_worker_reports_undeliverable_total',
    help: 'NodeReports that could not be written within the retry window (the attempt failed visibly)',
    labelNames: ['type'] as const,
  });
  const recreated = metrics.counter({
    name: 'switchyard_worker_fetch_watchdog_recreations_total',
    help: 'BullMQ workers recreated because they stopped fetching waiting jobs',
    labelNames: ['actor'] as const,
  });
  const queueWait = metrics.histogram({
    name: 'switchyard_worker_queue_wait_seconds',
    help: 'Time an attempt waited in the node queue, from eligible (enqueued + delay) to leased by an actor',
    labelNames: ['task'] as const,
    buckets: SECONDS_BUCKETS.slow,
  });
  const attemptDuration = metrics.histogram({
    name: 'switchyard_worker_attempt_duration_seconds',
    help: 'Time the runner spent on an attempt, from its start to its outcome, by task and outcome',
    labelNames: ['task', 'outcome'] as const,
    buckets: SECONDS_BUCKETS.slow,
  });
  const handBacks = metrics.counter({
    name: 'switchyard_worker_lease_handbacks_total',
    help: 'Leases whose unstarted attempts an actor handed back to the tail of the queue, by reason (slice, draining, quarantined)',
    labelNames: ['reason'] as const,
  });
  const notOwned = metrics.counter({
    name: 'switchyard_worker_leases_not_owned_total',
    help: 'Leases an actor let go, the rest of their attempts left unstarted, because their BullMQ lock was no longer its own when it read it (paused past the lock; the lease was re-added meanwhile)',
  });
  const shownState = new Map<string, ActorState>();
  return {
    attemptLeased: (task, waitedMs) => queueWait.observe({ task }, waitedMs / 1000),
    attemptRan: (task, outcome, ranMs) => attemptDuration.observe({ task, outcome }, ranMs / 1000),
    attemptFinished: (task, outcome, code) => attempts.inc({ task, outcome, code: code ?? '' }),
    runnerRestarted: (actor, blame) => restarts.inc({ actor, blame }),
    actorState: (actor, state) => {
      const was = shownState.get(actor);
      if (was === state) return;
      // the first time every state gets its 0; after that only the two that changed
      for (const s of was === undefined ? ActorState.options : [was, state])
        states.set({ actor, state: s }, s === state ? 1 : 0);
      shownState.set(actor, state);
      // set when first seen and when leaving quarantine: not on every BUSY ⇄ IDLE of every attempt
      if (state !== 'QUARANTINED' && (was === undefined || was === 'QUARANTINED'))
        quarantinedUntil.set({ actor }, 0);
    },
    actorQuarantined: (actor, untilMs) => {
      quarantines.inc({ actor });
      quarantinedUntil.set({ actor }, Math.round(untilMs / 1000));
    },
    quarantineProbe: (actor, outcome) => probes.inc({ actor, outcome }),
    tenantRunnerKilled: () => tenantKills.inc(),
    tenantThrottled: () => tenantThrottles.inc(),
    reportRetried: (type) => reportRetries.inc({ type }),
    reportUndeliverable: (type) => undeliverable.inc({ type }),
    fetchWatchdogRecreated: (actor) => recreated.inc({ actor }),
    leaseHandedBack: (reason) => handBacks.inc({ reason }),
    leaseNotOwned: () => notOwned.inc(),
  };
}
