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
  if (leased) return (await readLeasePreflights(r, [payload]))[0]!;
  const [marker, throttle] = await retryWithin(r.retryWindowMs, () =>
    r.redis.mget(preflightKeys(r, payload)),
  );
  return { cancelled: isSet(marker), throttledUntil: r.tenants.throttledUntilOf(throttle) };
}

/**
 * The preflights of a lease's attempts in one round trip (a pipeline: one MGET of every cancelled marker and
 * throttle key they name, an HMGET of each node), retried within the window: the actor hands the runnable ones
 * to its runner together.
 */
export async function readLeasePreflights(
  r: PreflightReader,
  payloads: readonly NodeAttemptPayload[],
): Promise<AttemptPreflight[]> {
  return (await readLeaseStart(r, payloads)).preflights;
}

/**
 * readLeasePreflights, and (with `lockKey`) the lease's BullMQ lock in the same round trip (a GET at the end of
 * the pipeline: one command per lease, no round trip more): `lock` is its value (null: no lock, undefined: not
 * read), which is the actor's token while the lease is its own.
 */
export async function readLeaseStart(
  r: PreflightReader,
  payloads: readonly NodeAttemptPayload[],
  lockKey?: string,
): Promise<{ preflights: AttemptPreflight[]; lock?: string | null }> {
  const keysOf = payloads.map((p) => preflightKeys(r, p));
  const keys = [...new Set(keysOf.flat())];
  const replies = await retryWithin(r.retryWindowMs, async () => {
    const pipeline = r.redis.pipeline().mget(keys);
    for (const p of payloads) pipeline.hmget(REDIS_KEYS.node(p.jobId, p.nodeId), 'status', 'attempt');
    if (lockKey !== undefined) pipeline.get(lockKey);
    const replies = await pipeline.exec();
    if (!replies) throw new Error('the preflight pipeline was not executed');
    for (const [err] of replies) if (err) throw err;
    return replies.map(([, v]) => v);
  });
  const lock = lockKey === undefined ? undefined : (replies.pop() as string | null);
  const [markers, ...nodes] = replies as Array<Array<string | null>>;
  const valueAt = new Map(keys.map((k, i) => [k, markers![i] ?? null]));
  const preflights = payloads.map((p, i) => {
    const [markerKey, throttleKey] = keysOf[i]!;
    const [status, attempt] = nodes[i]!;
    const superseded = supersededBy(status ?? null, attempt ?? null, p.attempt);
    return {
      cancelled: isSet(valueAt.get(markerKey!)),
      throttledUntil: r.tenants.throttledUntilOf(throttleKey ? valueAt.get(throttleKey) : undefined),
      ...(superseded ? { superseded } : {}),
    };
  });
  return lock === undefined ? { preflights } : { preflights, lock };
}

/** The attempt's cancelled marker and, when throttling is on, its tenant's throttle key. */
function preflightKeys(r: PreflightReader, payload: NodeAttemptPayload): string[] {
  const throttleKey = r.tenants.throttleKey(payload.tenant);
  return throttleKey ? [cancelledJobKey(payload.jobId), throttleKey] : [cancelledJobKey(payload.jobId)];
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

/** A cancelled marker (or throttle key) read with MGET is set. */
export const isSet = (v: string | null | undefined): boolean => v !== null && v !== undefined;
