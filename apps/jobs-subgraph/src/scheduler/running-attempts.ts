import type { Redis } from 'ioredis';
import { attemptJobId } from '#libs/contracts';
import { workerLost, type AttemptVerdicts } from './attempt-verdicts.js';
import type { AttemptQueueInfo, NodeEnqueuer } from './enqueuer.js';
import type { StoredNode } from './job-record.js';
import type { LeaseRepairs } from './lease-repairs.js';
import { DEFAULT_CLOSE_GRACE_MS, type ReconcilerConfig } from './reconciler-config.js';
import type { SchedulerLogger } from './scheduler-ports.js';
import { workerAlive } from './worker-liveness.js';

/**
 * A started attempt whose queue job is still active. BullMQ's stalled check, which hands the job of a dead worker
 * to another, runs only inside workers of that queue: with none left of the class (a GPU host lost), nothing
 * else would end the attempt before the job deadline. So the pass enforces it, as Temporal's server does with
 * heartbeat and start-to-close timeouts. When the worker that started the attempt let its liveness key expire,
 * the queue job is taken back as soon as its lock has lapsed too (a worker that holds it renews it, so it is
 * alive), then judged like an attempt whose queue job ended: CRASHED (retryable) once its reports are applied.
 * Taking the job out first means no worker's stalled check runs this attempt again, and the retry is a new
 * attempt number, so whatever the lost worker still reports of this one is stale. Backstop: an attempt running
 * past its start + timeout + closeGraceMs on a worker that looks alive fails TIMEOUT (retryable).
 */
export class RunningAttempts {
  /** Workers' liveness (manifest keys) as first read in the pass under way. */
  private workersAlive = new Map<string, boolean>();
  /** Attempts found on a dead worker whose queue lock still lives, logged once each (kept while seen so). */
  private lockWaits = new Set<string>();
  /** The attempts found running on a dead worker in the pass under way (the others' entries above are dropped). */
  private seenOnDeadWorker = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly enqueuer: NodeEnqueuer,
    private readonly config: Pick<ReconcilerConfig, 'closeGraceMs'>,
    private readonly logger: SchedulerLogger,
    private readonly verdicts: AttemptVerdicts,
    private readonly leases: LeaseRepairs,
  ) {}

  beginPass(): void {
    this.workersAlive = new Map();
    this.seenOnDeadWorker = new Set();
  }

  async check(
    jobId: string,
    node: StoredNode,
    info: AttemptQueueInfo,
    where: Record<string, unknown>,
    now: number,
  ): Promise<number> {
    const attemptId = attemptJobId(jobId, node.id, node.attempt);
    const workerId = node.workerId;
    const fields = { ...where, workerId: workerId ?? null };
    if (workerId !== undefined && !(await this.workerAlive(workerId))) {
      this.seenOnDeadWorker.add(attemptId);
      const reclaimed =
        (await this.enqueuer.reclaim?.(node.resourceClass, jobId, node.id, node.attempt, info.lease)) ??
        false;
      if (reclaimed) {
        this.verdicts.takenBackFrom(attemptId, workerId);
        if (info.lease) this.leases.takenBack(info.lease, now);
        this.logger.warn(fields, 'reconciler: took back the queue job of an attempt whose worker is gone');
        return this.verdicts.afterReports(jobId, node, workerLost(node, workerId), 'worker_lost', {
          ...fields,
          reclaimed: true,
        });
      }
      // its lock lapses within the worker's lock duration if it is dead; a lock renewed for good means a worker
      // that runs but no longer publishes its manifest, which the backstop below still bounds
      if (!this.lockWaits.has(attemptId))
        this.logger.warn(
          fields,
          'reconciler: attempt running on a worker whose liveness key expired; its queue lock has not lapsed yet',
        );
      this.lockWaits.add(attemptId);
    }
    const grace = this.config.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
    // from the start of the run on its current worker: a run BullMQ redelivered after a stall began then
    const runStart = node.runStartedAt ?? node.startedAt;
    const startedAt = runStart === undefined ? Number.NaN : Date.parse(runStart);
    if (!(now > startedAt + node.timeoutMs + grace)) return 0;
    const judged = await this.verdicts.afterReports(
      jobId,
      node,
      {
        code: 'TIMEOUT',
        message: `attempt ${node.attempt} ran past its timeout (${node.timeoutMs} ms) and ${grace} ms more on worker ${workerId ?? '(unknown)'} without ending`,
        retryable: true,
      },
      'timed_out',
      fields,
    );
    // best effort: once its lock lapses nobody runs it again; while it lives, its worker still runs it
    if (judged > 0)
      await this.enqueuer.reclaim?.(node.resourceClass, jobId, node.id, node.attempt, info.lease);
    return judged;
  }

  endPass(): void {
    for (const id of this.lockWaits) if (!this.seenOnDeadWorker.has(id)) this.lockWaits.delete(id);
  }

  /** Whether the worker renews its manifest key, read once per pass. */
  private async workerAlive(id: string): Promise<boolean> {
    let alive = this.workersAlive.get(id);
    if (alive === undefined) {
      alive = await workerAlive(this.redis, id);
      this.workersAlive.set(id, alive);
    }
    return alive;
  }
}
