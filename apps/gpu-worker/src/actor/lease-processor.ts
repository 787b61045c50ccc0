import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { z } from 'zod';
import { LEASE_MAX_ATTEMPTS, parseContract, type NodeAttemptPayload } from '#libs/contracts';
import type { LeaseHandBackReason, WorkerMetrics } from '../worker-metrics.js';
import { LeasedAttemptPayload } from './node-payload.js';

/** NodeLeasePayload as an actor reads it from BullMQ: every attempt as LeasedAttemptPayload. */
export const LeasedAttempts = z.object({
  attempts: z.array(LeasedAttemptPayload).min(1).max(LEASE_MAX_ATTEMPTS),
});

/** A BullMQ job's data is a lease (several attempts) rather than one NodeAttemptPayload. */
export const isLease = (data: unknown): boolean =>
  typeof data === 'object' && data !== null && Array.isArray((data as { attempts?: unknown }).attempts);

/** What running a lease needs of its actor: narrow ports, so tests drive it with fakes. */
export interface LeasePorts {
  actorId: string;
  /** Attempts are started only this long after the actor took the lease; the rest goes back. */
  sliceMs: number;
  /** Why the actor must not start another attempt (it stopped leasing); undefined while it may. */
  mustStop(): Exclude<LeaseHandBackReason, 'slice'> | undefined;
  /** BullMQ reported the lease's lock lost: another actor owns the lease now. */
  lockLost(): boolean;
  /** One attempt of the lease: processAttempt, whose preflight also skips an attempt that already ended. */
  runAttempt(payload: NodeAttemptPayload): Promise<void>;
  /** The lease's attempts as handed to the runner together (NodeActor's runner queue). */
  runnerQueue: LeaseRunnerQueue;
  logger: {
    debug(obj: object, msg: string): void;
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
  metrics: Pick<WorkerMetrics, 'leaseHandedBack' | 'leaseNotOwned'>;
  now?: () => number;
}

/**
 * A lease's attempts in the actor's runner (decision 0007, session 9): preflighted together and handed over in
 * one write, so a lease of short attempts wakes the runner (and the actor) once, not once per attempt.
 */
export interface LeaseRunnerQueue {
  /**
   * Preflights the attempts in one round trip and hands the runnable ones to the runner, in order. With them it
   * reads the lease's lock: false when the lease is not the actor's (nothing is handed over then). The runner
   * starts none of them once the window in which the lock is known to be the actor's has passed.
   */
  handOver(attempts: readonly NodeAttemptPayload[]): Promise<boolean>;
  /**
   * Whether the lease is still the actor's, before it starts an attempt: true within the window its last read
   * of the lock opened (no command); past it (the actor was paused, or the lease is long) the lock is read again
   * (one GET) and a window opens again if it is still the actor's.
   */
  stillOwned(): Promise<boolean>;
  /**
   * Takes back those of `rest` the runner has not started; answers how many of `rest` (from its start) must
   * still be run here because the runner started or ended one of them (the others go back to the queue).
   */
  takeBack(rest: readonly NodeAttemptPayload[]): Promise<number>;
  /**
   * The lease ends here (done, lock lost, or an error): what is left of it in the runner is taken back, and a
   * runner still running (or dead in) an attempt nobody will report is restarted.
   */
  release(): Promise<void>;
}

/**
 * One lease (decision 0007): its attempts in order, each with its own preflight and reports. Before each
 * attempt: a lost lock ends the lease here without a word (the new owner runs the rest); an actor that stopped
 * leasing, or a slice that is over (from the second attempt on, so every lease makes progress), hands the
 * unstarted rest back to the tail of the queue, unreported and keeping its attempt numbers (those the runner
 * already started are run to their end first). Throws for a malformed lease (UnrecoverableError), a hand-back
 * (DelayedError: BullMQ's manual delay), and whatever an attempt throws (an undeliverable terminal report fails
 * the lease; the scheduler's reconciler does the rest).
 */
export async function processLease(job: Job, token: string | undefined, p: LeasePorts): Promise<void> {
  const attempts = parseLease(job, p);
  const now = p.now ?? Date.now;
  const from = now();
  try {
    if (!(await p.runnerQueue.handOver(attempts))) return notOwned(job, attempts.length, p);
    for (let i = 0; i < attempts.length; i++) {
      if (p.lockLost()) {
        p.logger.warn(
          { actor: p.actorId, bullJobId: job.id, left: attempts.length - i },
          'lost the lock of the lease: its other attempts are left to the actor that has it',
        );
        return;
      }
      // BullMQ says a lock is lost only at its next renewal: an actor that was paused past its lock (GC,
      // SIGSTOP) wakes with the lease maybe re-added by the leader and run by another actor (LeaseRepairs)
      if (!(await p.runnerQueue.stillOwned())) return notOwned(job, attempts.length - i, p);
      const stop = p.mustStop() ?? (i > 0 && now() - from >= p.sliceMs ? 'slice' : undefined);
      if (stop) {
        const started = await p.runnerQueue.takeBack(attempts.slice(i));
        for (const attempt of attempts.slice(i, i + started)) await p.runAttempt(attempt);
        if (i + started < attempts.length) return await handBack(job, token, i + started, stop, p);
        return;
      }
      await p.runAttempt(attempts[i]!);
    }
  } finally {
    await p.runnerQueue.release();
  }
}

/**
 * The lease's lock is not the actor's: the lease was taken back while the actor was paused, and is the new
 * owner's, with its attempts. None is started here (what the runner still holds is taken back when the lease
 * ends; one it already runs is killed there, as for a lost lock), nothing is reported or handed back.
 */
function notOwned(job: Job, left: number, p: LeasePorts): void {
  p.metrics.leaseNotOwned();
  p.logger.warn(
    { actor: p.actorId, bullJobId: job.id, left },
    "the lease is no longer this actor's (its lock is gone or another's: taken back while the actor was paused); its attempts are left to its owner",
  );
}

function parseLease(job: Job, p: LeasePorts): NodeAttemptPayload[] {
  try {
    return parseContract(LeasedAttempts, 'NodeLeasePayload', job.data).attempts;
  } catch (e) {
    // Without valid ids there is no attempt to report on: fail the BullMQ job where operators see it.
    p.logger.error(
      { actor: p.actorId, bullJobId: job.id, err: (e as Error).message },
      'refused a malformed lease',
    );
    throw new UnrecoverableError((e as Error).message);
  }
}

/**
 * The attempts from `from` on go back to the tail of the queue: the data shrinks to them, the job moves to the
 * delayed set due now (BullMQ promotes it to the tail of `wait`; moveToWait would put it at the head), and
 * DelayedError tells BullMQ the job was moved. If Redis refuses, the error propagates and BullMQ fails the lease
 * (with the actor's lock; a lock that is another's leaves it to its owner): the scheduler's reconciler sends the
 * attempts that never started back without a try (jobs-subgraph LeaseRepairs.returnEndedLeases). Should BullMQ's
 * own move fail too, the lock expires and the stalled check re-queues it; the attempts that ended are skipped then.
 */
async function handBack(
  job: Job,
  token: string | undefined,
  from: number,
  reason: LeaseHandBackReason,
  p: LeasePorts,
): Promise<never> {
  // The raw entries, as the scheduler wrote them, not the parsed ones.
  const all = (job.data as { attempts: unknown[] }).attempts;
  const log = { actor: p.actorId, bullJobId: job.id, reason, handedBack: all.length - from };
  try {
    if (from > 0) await job.updateData({ attempts: all.slice(from) });
    await job.moveToDelayed(Date.now(), token);
  } catch (e) {
    p.logger.error(
      { ...log, err: (e as Error).message },
      'could not hand the rest of a lease back; it fails, and the leader re-queues its unstarted attempts',
    );
    throw e;
  }
  p.metrics.leaseHandedBack(reason);
  if (reason === 'slice') p.logger.debug(log, 'handed the rest of a lease back to the queue');
  else p.logger.info(log, 'handed the rest of a lease back to the queue');
  throw new DelayedError();
}
