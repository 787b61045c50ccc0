import type { Redis } from 'ioredis';
import { cancelledJobKey, REDIS_KEYS, type NodeAttemptPayload } from '#libs/contracts';
import type { AttemptPreflight } from './attempt-processor.js';
import { retryWithin } from './retry.js';
import type { TenantGuard } from './tenant-guard.js';

export interface PreflightReader {
  redis: Pick<Redis, 'mget' | 'pipeline'>;
  tenants: Pick<TenantGuard, 'throttleKey' | 'throttledUntilOf'>;
  /** Window in which the read is retried: without its answer the attempt must not start. */
  retryWindowMs: number;
}

/** Node statuses in which a leased attempt may still run (RUNNING: the attempt a dead actor was running). */
const RUNNABLE = new Set(['QUEUED', 'RETRYING', 'RUNNING']);

/**
 * The cancelled marker and the tenant's throttle in one MGET (both `{sy}` keys: one slot on Cluster too),
 * retried within the window. An attempt that came in a lease also reads its node's `status` and `attempt`,
 * pipelined with the MGET (same round trip, same slot): a lease re-run after its first actor died starts
 * from its first attempt, and the ones that already ended must not run again.
 */
export async function readPreflight(
  r: PreflightReader,
  payload: NodeAttemptPayload,
  leased: boolean,
): Promise<AttemptPreflight> {
  const throttleKey = r.tenants.throttleKey(payload.tenant);
  const keys = throttleKey ? [cancelledJobKey(payload.jobId), throttleKey] : [cancelledJobKey(payload.jobId)];
  if (!leased) {
    const [marker, throttle] = await retryWithin(r.retryWindowMs, () => r.redis.mget(keys));
    return { cancelled: isSet(marker), throttledUntil: r.tenants.throttledUntilOf(throttle) };
  }
  const [[marker, throttle], [status, attempt]] = await retryWithin(r.retryWindowMs, async () => {
    const replies = await r.redis
      .pipeline()
      .mget(keys)
      .hmget(REDIS_KEYS.node(payload.jobId, payload.nodeId), 'status', 'attempt')
      .exec();
    if (!replies) throw new Error('the preflight pipeline was not executed');
    for (const [err] of replies) if (err) throw err;
    return replies.map(([, v]) => v) as [Array<string | null>, Array<string | null>];
  });
  const superseded = supersededBy(status ?? null, attempt ?? null, payload.attempt);
  return {
    cancelled: isSet(marker),
    throttledUntil: r.tenants.throttledUntilOf(throttle),
    ...(superseded ? { superseded } : {}),
  };
}

/**
 * Why a leased attempt must not run, from its node's hash (undefined: run it): the node is gone, another
 * attempt is current, or the node's status says this attempt ended.
 */
export function supersededBy(
  status: string | null,
  attempt: string | null,
  payloadAttempt: number,
): string | undefined {
  if (status === null) return 'the node is gone';
  if (Number(attempt) !== payloadAttempt) return `the node is at attempt ${attempt ?? '?'}`;
  if (!RUNNABLE.has(status)) return `the node is ${status}`;
  return undefined;
}

const isSet = (v: string | null | undefined): boolean => v !== null && v !== undefined;
