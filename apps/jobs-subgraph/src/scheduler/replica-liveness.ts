import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { DISPATCHER_ID_PATTERN } from '#libs/contracts';
import { JOB_KEYS } from './keys.js';
import type { SchedulerLogger } from './scheduler-ports.js';

/** How long a replica's liveness key outlives its last renewal (SCHEDULER_REPLICA_TTL_MS). */
export const DEFAULT_REPLICA_TTL_MS = 3_000;

export interface ReplicaHeartbeatOptions {
  ttlMs: number;
  logger: SchedulerLogger;
  /** Default: random (DISPATCHER_ID_PATTERN). */
  id?: string;
}

/**
 * This replica's liveness key, `{sy}:scheduler:replica:<id>`, set with a TTL and renewed every third of it. The
 * leases this replica's dispatcher pops carry the id, so the reconciler can tell a lease whose replica died
 * between pop and add (key expired: re-added at once) from one a live replica is still adding (left alone up to
 * lostDispatchMs). Being taken for dead while alive (a pause longer than the TTL) costs nothing but a re-add that
 * is a no-op: the reconciler and the replica add the lease under the same job id.
 */
export class ReplicaHeartbeat {
  readonly id: string;
  private timer?: NodeJS.Timeout;
  private stopped = true;
  private failing = false;

  constructor(
    private readonly redis: Redis,
    private readonly opts: ReplicaHeartbeatOptions,
  ) {
    this.id = opts.id ?? randomBytes(6).toString('hex');
    if (!DISPATCHER_ID_PATTERN.test(this.id))
      throw new Error(`a replica id is 1 to 32 letters or digits, got "${this.id}"`);
    if (!(opts.ttlMs > 0)) throw new Error(`the replica liveness TTL must be > 0 ms, got ${opts.ttlMs}`);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.beat();
  }

  /**
   * Stops renewing. `release` (default) deletes the key: a replica that stopped adds nothing more, so its leases
   * still missing may be re-added at once. Without it the key expires on its own (what a crash looks like).
   */
  async stop(release = true): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (release) await this.redis.del(JOB_KEYS.replica(this.id)).catch(() => undefined); // else: it expires
  }

  private async beat(): Promise<void> {
    try {
      // the value says where the replica runs, for whoever reads the key
      await this.redis.set(JOB_KEYS.replica(this.id), `${hostname()}:${process.pid}`, 'PX', this.opts.ttlMs);
      if (this.failing) this.opts.logger.info({ replica: this.id }, 'replica liveness key renewed again');
      this.failing = false;
    } catch (e) {
      // until it is renewed, the leases this replica pops and has not added yet are re-added by the leader
      if (!this.failing)
        this.opts.logger.warn(
          { replica: this.id, err: (e as Error).message },
          'renewing the replica liveness key failed',
        );
      this.failing = true;
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.beat(), this.opts.ttlMs / 3);
    this.timer.unref();
  }
}

/** Whether the replica's liveness key is there, i.e. it renewed it within its TTL. */
export async function replicaAlive(redis: Redis, id: string): Promise<boolean> {
  return (await redis.exists(JOB_KEYS.replica(id))) === 1;
}
