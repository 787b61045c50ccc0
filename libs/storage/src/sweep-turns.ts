import type { Redis } from 'ioredis';
import { REDIS_KEYS } from '#libs/contracts';
import { STORAGE_KEYS } from './storage-keys.js';
import { runStorageScript } from './storage-scripts.js';

/** What one batch did: `more` when it took a full batch and made progress (more may be due). */
export interface BatchOutcome {
  done: number;
  more: boolean;
}

/**
 * One sweep kind's indexes: a sorted set per tenant, the tenants with entries (scored with their earliest), and
 * the legacy global index that releases before the per-tenant ones wrote (drained, never added to).
 */
export interface SweepIndex {
  legacy: string;
  tenants: string;
  ofTenant(tenant: string): string;
}

export const UNCOMMITTED_INDEX: SweepIndex = {
  legacy: REDIS_KEYS.uncommittedArtifacts,
  tenants: STORAGE_KEYS.uncommittedArtifactTenants,
  ofTenant: STORAGE_KEYS.tenantUncommittedArtifacts,
};

export const CREATED_INDEX: SweepIndex = {
  legacy: STORAGE_KEYS.artifactsByCreatedAt,
  tenants: STORAGE_KEYS.createdArtifactTenants,
  ofTenant: STORAGE_KEYS.tenantArtifactsByCreatedAt,
};

/** A lane of a kind's turns: a tenant's index, or (null) the legacy global index. */
export type SweepLane = string | null;

/** The lane's entries due by `cutoff`, oldest first, at most `limit`. */
export function dueEntries(
  redis: Redis,
  index: SweepIndex,
  lane: SweepLane,
  cutoff: number,
  limit: number,
): Promise<string[]> {
  const key = lane === null ? index.legacy : index.ofTenant(lane);
  return redis.zrangebyscore(key, '-inf', cutoff, 'LIMIT', 0, limit);
}

/**
 * Takes a stale entry out of the lane (its record is gone, or no longer the kind's), keeping the tenant's place in
 * the tenants index (one Lua step); a legacy entry just leaves the global index.
 */
export async function dropEntry(redis: Redis, index: SweepIndex, lane: SweepLane, id: string): Promise<void> {
  if (lane === null) {
    await redis.zrem(index.legacy, id);
    return;
  }
  await runStorageScript(
    redis,
    'moveSweepEntry',
    [REDIS_KEYS.artifact(id), index.legacy, index.ofTenant(lane), index.tenants],
    [id, lane, ''],
  );
}

/** Moves the entry to `score` in its tenant's index (out of the legacy one, if it was there). */
export async function rescheduleEntry(
  redis: Redis,
  index: SweepIndex,
  tenant: string,
  id: string,
  score: number,
): Promise<void> {
  await runStorageScript(
    redis,
    'moveSweepEntry',
    [REDIS_KEYS.artifact(id), index.legacy, index.ofTenant(tenant), index.tenants],
    [id, tenant, score],
  );
}

/**
 * One sweep kind's turns over the lanes with due work, round robin as fair schedulers do: a round lists the
 * tenants whose earliest entry is due (and the legacy lane while it holds due entries), then each step serves the
 * next lane of the round one batch. So a tenant with a huge backlog gets one batch per round like every other
 * tenant, and a tenant's due entries are reached within one round whatever the others hold. The round left
 * unfinished when a pass ends is taken up by the next pass (this object lives as long as the sweeper: a new leader
 * starts a new round).
 */
export class SweepTurns {
  private round: SweepLane[] = [];
  /** A lane of the current round took a full batch and made progress: another round may find more. */
  private again = false;

  constructor(
    private readonly redis: Redis,
    private readonly index: SweepIndex,
  ) {}

  /**
   * Serves the next lane one batch (`batch`), starting a new round when the last one is done; `more` while the
   * round has lanes left or one of its batches says more may be due. `lane` is the lane served (undefined: none
   * had due work).
   */
  async step(
    cutoff: number,
    batch: (lane: SweepLane) => Promise<BatchOutcome>,
  ): Promise<BatchOutcome & { lane?: SweepLane }> {
    if (this.round.length === 0) {
      this.round = await this.dueLanes(cutoff);
      this.again = false;
    }
    const lane = this.round.shift();
    if (lane === undefined) return { done: 0, more: false };
    const outcome = await batch(lane);
    if (outcome.more) this.again = true;
    return { done: outcome.done, more: this.round.length > 0 || this.again, lane };
  }

  /** The tenants with an entry due by `cutoff`, earliest first, then the legacy lane if it still has a due one. */
  private async dueLanes(cutoff: number): Promise<SweepLane[]> {
    const [tenants, legacy] = await Promise.all([
      this.redis.zrangebyscore(this.index.tenants, '-inf', cutoff),
      this.redis.zrangebyscore(this.index.legacy, '-inf', cutoff, 'LIMIT', 0, 1),
    ]);
    return legacy.length > 0 ? [...tenants, null] : tenants;
  }
}
