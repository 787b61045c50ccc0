import type { Redis } from 'ioredis';
import { REDIS_KEYS, attemptJobId, compareStreamIds, replyPairs, type JobError } from '#libs/contracts';
import type { StoredNode } from './job-record.js';
import type { RecordAction } from './reconciler-config.js';
import type { Scheduler } from './scheduler.js';
import type { ReconcilerAction } from './scheduler-ports.js';

/**
 * The reconciler's verdicts on attempts that ended (or were taken back) without a terminal report: given only once
 * every report their worker sent is applied, so a report still in the stream is never overtaken. Keeps, across
 * passes, each such attempt's mark and the dead worker it was taken back from; beginPass()/endPass() drop the
 * entries of attempts a pass no longer found ended.
 */
export class AttemptVerdicts {
  /**
   * Attempts whose queue job ended without a terminal report, by attempt id: the report stream's last id when
   * that was first seen. Every report of the attempt is at or before it, so the verdict waits only for the
   * stream to be applied up to there (under steady load the stream is never wholly caught up).
   */
  private endedMarks = new Map<string, string>();
  /** The attempts seen ended in the pass under way (the others' marks are dropped at its end). */
  private seenEnded = new Set<string>();
  /**
   * Attempts whose queue job this reconciler took back from a dead worker and has not judged yet (their reports
   * were not all applied), by attempt id: the worker's id, which the verdict names.
   */
  private reclaimedFrom = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    private readonly scheduler: Scheduler,
    private readonly record: RecordAction,
  ) {}

  beginPass(): void {
    this.seenEnded = new Set();
  }

  /** The attempt's queue job was taken back from `workerId`, which is gone: its verdict names that worker. */
  takenBackFrom(attemptId: string, workerId: string): void {
    this.reclaimedFrom.set(attemptId, workerId);
  }

  /** The dead worker the attempt's queue job was taken back from, if this reconciler did and has not judged it. */
  lostWorkerOf(attemptId: string): string | undefined {
    return this.reclaimedFrom.get(attemptId);
  }

  /**
   * Fails an attempt with `error` once every report its worker sent before the pass read its queue state is
   * applied. A worker XADDs its terminal report before its BullMQ job ends, so once the queue says "ended" (or the
   * job was taken back), every report of this attempt is at or before the stream's last id read *after* that (a
   * mark read before the queue state proves nothing about a report sent in between); once the stream is applied up
   * to the mark, a report that is still missing was never sent. The mark is kept across passes until then.
   */
  async afterReports(
    jobId: string,
    node: StoredNode,
    error: JobError,
    action: ReconcilerAction,
    where: Record<string, unknown>,
  ): Promise<number> {
    const attemptId = attemptJobId(jobId, node.id, node.attempt);
    this.seenEnded.add(attemptId);
    let mark = this.endedMarks.get(attemptId);
    if (mark === undefined) {
      mark = await reportsMark(this.redis);
      this.endedMarks.set(attemptId, mark);
    }
    if (!(await reportsAppliedUpTo(this.redis, mark))) return 0;
    this.endedMarks.delete(attemptId);
    this.reclaimedFrom.delete(attemptId);
    if ((await this.scheduler.failAttempt(jobId, node.id, node.attempt, error)) !== 'applied') return 0;
    this.record(action, where);
    return 1;
  }

  endPass(): void {
    // an attempt no longer seen ended (its report came, or a verdict was given) needs no mark
    for (const id of this.endedMarks.keys()) if (!this.seenEnded.has(id)) this.endedMarks.delete(id);
    for (const id of this.reclaimedFrom.keys()) if (!this.seenEnded.has(id)) this.reclaimedFrom.delete(id);
  }
}

/** The verdict on an attempt whose worker died under it. */
export const workerLost = (node: StoredNode, workerId: string): JobError => ({
  code: 'CRASHED',
  message: `attempt ${node.attempt} was running on worker ${workerId}, which is gone (its liveness key expired), and ended without a report from it`,
  retryable: true,
});

/** The report stream's last id ('0-0' while there is none): every report written so far is at or before it. */
export async function reportsMark(redis: Redis): Promise<string> {
  try {
    const stream = replyPairs((await redis.xinfo('STREAM', REDIS_KEYS.reports)) as unknown[]);
    return String(stream.get('last-generated-id') ?? '0-0');
  } catch (e) {
    if (e instanceof Error && e.message.includes('no such key')) return '0-0';
    throw e;
  }
}

/**
 * True when every report up to `mark` (a stream id) has been delivered to the scheduler group and acknowledged:
 * the group read past it and none at or before it is pending.
 */
export async function reportsAppliedUpTo(redis: Redis, mark: string): Promise<boolean> {
  if (mark === '0-0') return true;
  try {
    const groups = (await redis.xinfo('GROUPS', REDIS_KEYS.reports)) as unknown[][];
    const group = groups.map(replyPairs).find((g) => g.get('name') === REDIS_KEYS.reportsGroup);
    if (!group || compareStreamIds(String(group.get('last-delivered-id')), mark) < 0) return false;
    const pending = (await redis.xpending(
      REDIS_KEYS.reports,
      REDIS_KEYS.reportsGroup,
      '-',
      mark,
      1,
    )) as unknown[];
    return pending.length === 0;
  } catch (e) {
    if (e instanceof Error && e.message.includes('no such key')) return true;
    throw e;
  }
}
