import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  NodeAttemptPayload,
  REDIS_PREFIX,
  attemptJobId,
  leaseIdOf,
  parseAttemptJobId,
  parseContract,
  type ResourceClass,
} from '#libs/contracts';
import { JOB_KEYS } from './keys.js';
import { runScript, type ScriptName } from './scripts.js';

/** Every key of the fair-share stage starts with this, then the resource class (FAIR_KEYS). */
export const FAIR_STAGE_PREFIX = `${REDIS_PREFIX}:fair:`;

/** Keys of the fair-share stage of one resource class (layout: lua/includes/fair.lua). */
export const FAIR_KEYS = {
  /** hash attempt id -> entry JSON: attempts held (ready or delayed) */
  held: (rc: ResourceClass) => `${FAIR_STAGE_PREFIX}${rc}:held`,
  /** list of tenants with ready attempts (round robin) */
  ring: (rc: ResourceClass) => `${FAIR_STAGE_PREFIX}${rc}:ring`,
  /** zset attempt id by due time (ms) */
  delayed: (rc: ResourceClass) => `${FAIR_STAGE_PREFIX}${rc}:delayed`,
  /** zset attempt id by dispatch time (ms): in the node queue, not yet taken by a worker */
  dispatched: (rc: ResourceClass) => `${FAIR_STAGE_PREFIX}${rc}:dispatched`,
  /** string: live actors of the class, written by the leader with a TTL */
  capacity: (rc: ResourceClass) => `${FAIR_STAGE_PREFIX}${rc}:capacity`,
  /** zset per tenant: its ready attempts, higher priority first, then earlier */
  ready: (rc: ResourceClass, tenant: string) => `${FAIR_STAGE_PREFIX}${rc}:ready:${tenant}`,
  /**
   * zset attempt id -> its tenant's score (lua/includes/fair.lua occupancyScore): attempts dispatched by the stage
   * and not yet ended (dispatched or running), what each tenant occupies of the class (decision 0005 "Occupancy")
   */
  occupancy: (rc: ResourceClass) => `${FAIR_STAGE_PREFIX}${rc}:occupancy`,
  /** string per attempt dispatched in a lease: "<dispatch ms>:<lease id>", expiring with the lease's retention */
  leaseOf: (rc: ResourceClass, attemptId: string) => `${FAIR_STAGE_PREFIX}${rc}:lease-of:${attemptId}`,
} as const;

/**
 * A member of the occupancy zset that is no attempt (lua/includes/fair.lua AT_SHARE): a step found every tenant
 * waiting at its share; the next completion removes it and fills the window.
 */
export const OCCUPANCY_AT_SHARE = '~at-share';

/** How long a lease-of key lives: as long as BullMQ keeps a finished job (BullmqNodeQueue's removeOnComplete). */
export const LEASE_OF_RETENTION_MS = 24 * 3600 * 1000;

/** What the stage stores per held attempt. */
export const FairEntry = z.object({
  tenant: z.string().min(1),
  priority: z.number().int(),
  payload: NodeAttemptPayload,
});
export type FairEntry = z.infer<typeof FairEntry>;

/**
 * Attempts a step took out of the stage for the node queue, in dispatch order. `lease`: the node-queue job id
 * of the lease the attempt went out in (its attempts are consecutive; only the first holds a slot), named by the
 * replica whose step popped it.
 */
export interface DispatchStep {
  dispatched: Array<{ id: string; entry: FairEntry; lease?: string }>;
  /** Entries dropped because their node no longer waits for that attempt (cancelled, finished, superseded). */
  dropped: number;
  /** Earliest due time of a delayed attempt (ms), or null when none is delayed. */
  nextDueMs: number | null;
  /** Popped entries that did not parse (corrupt): left to the reconciler, which enqueues the node again. */
  invalid: Array<{ id: string; err: string }>;
  /**
   * Single attempts in the window of tenants beyond their share while a tenant under its share waits behind a
   * full window (lua/includes/fair.lua takeBackCandidates): the dispatcher takes back those no worker holds.
   */
  takeBack: string[];
}

/** An attempt the dispatcher removed from the node queue, to go back to its tenant's ready set. */
export interface TakenBack {
  id: string;
  tenant: string;
  /** The payload as the node queue had it (JSON, passed on verbatim). */
  payload: string;
}

export type StageStatus = 'ready' | 'delayed' | 'held' | 'dispatched' | 'leased';

/**
 * Where the stage has an attempt: held (ready/delayed), dispatched since a time (holding a slot, or in a lease),
 * or nowhere. `lease`: the node-queue job it was dispatched in when that is a lease.
 */
export interface StagePlacement {
  held: 'ready' | 'delayed' | null;
  dispatchedAt: number | null;
  lease: string | null;
}

export interface StageDepth {
  /** attempts held (ready + delayed) */
  held: number;
  delayed: number;
  /** tenants with ready attempts */
  tenants: number;
  /** attempts in the node queue no worker has taken yet */
  dispatched: number;
}

/**
 * The fair-share stage in Redis, per resource class: per-tenant ready sets, a round robin of tenants, a delayed
 * set for retry backoff, and the dispatched set that bounds how many attempts wait in the node queue (the
 * window). Every step is one Lua script, so replicas can call them concurrently: an attempt is popped once.
 * Knows nothing of the node queue itself (the dispatcher hands what a step returns to it).
 */
export class FairQueue {
  constructor(
    private readonly redis: Redis,
    /** Minimum window; the effective one is max(this, live actors the leader recorded). */
    private readonly window: number,
    private readonly now: () => number = Date.now,
    /** Most attempts one node-queue job of the class may carry now (1: no leases). */
    private readonly leaseSize: (rc: ResourceClass) => number = () => 1,
    /** This replica's id (DISPATCHER_ID_PATTERN): the leases its steps pop carry it ('': none). */
    private readonly dispatcher: string = '',
  ) {}

  /** Holds the attempt (ready, or delayed until `dueMs`), then fills the window. */
  async enqueue(
    rc: ResourceClass,
    entry: FairEntry,
    dueMs: number,
  ): Promise<{ status: StageStatus } & DispatchStep> {
    const { payload } = entry;
    const [status, ...rest] = await this.run('fairEnqueue', rc, [
      attemptJobId(payload.jobId, payload.nodeId, payload.attempt),
      JSON.stringify(entry),
      entry.tenant,
      entry.priority,
      dueMs,
    ]);
    return { status: status as StageStatus, ...parseStep(rest, this.dispatcher) };
  }

  /**
   * Fills the window: promotes due retries, then pops round robin over tenants. `takeBack`: with the window
   * full, also name attempts to take back for a tenant waiting under its share (a submit that put a tenant in the
   * ring, the leader's pass).
   */
  async dispatch(rc: ResourceClass, takeBack = false): Promise<DispatchStep> {
    return parseStep(await this.run('fairDispatch', rc, [takeBack ? '1' : '0']), this.dispatcher);
  }

  /**
   * Puts attempts the dispatcher removed from the node queue back in their tenants' ready sets (those still in
   * `dispatched` and still waited for by their node), and fills the window. `takenBack`: how many went back.
   */
  async takeBack(
    rc: ResourceClass,
    attempts: readonly TakenBack[],
  ): Promise<{ takenBack: number } & DispatchStep> {
    const [taken, ...rest] = await this.run(
      'fairTakeBack',
      rc,
      attempts.flatMap((a) => [a.id, a.tenant, a.payload]),
    );
    return { takenBack: Number(taken), ...parseStep(rest, this.dispatcher) };
  }

  /** Frees the attempt's slot (a worker took it, or it ended) and fills the window. */
  async release(rc: ResourceClass, id: string): Promise<{ released: boolean } & DispatchStep> {
    const [released, ...rest] = await this.run('fairRelease', rc, [id]);
    return { released: Number(released) === 1, ...parseStep(rest, this.dispatcher) };
  }

  /** Takes the attempt out of the stage wherever it is, and fills the window. */
  async remove(rc: ResourceClass, id: string): Promise<{ removed: boolean } & DispatchStep> {
    const [removed, ...rest] = await this.run('fairRemove', rc, [id]);
    return { removed: Number(removed) === 1, ...parseStep(rest, this.dispatcher) };
  }

  async placement(rc: ResourceClass, id: string): Promise<StagePlacement> {
    const res = await this.redis
      .multi()
      .hexists(FAIR_KEYS.held(rc), id)
      .zscore(FAIR_KEYS.delayed(rc), id)
      .zscore(FAIR_KEYS.dispatched(rc), id)
      .get(FAIR_KEYS.leaseOf(rc, id))
      .exec();
    const [held, delayed, dispatched, leaseOf] = (res ?? []).map(([err, v]) => {
      if (err) throw err;
      return v;
    });
    const leased = parseLeaseOf(leaseOf);
    return {
      held: Number(held) === 1 ? (delayed !== null ? 'delayed' : 'ready') : null,
      dispatchedAt:
        dispatched === null || dispatched === undefined ? (leased?.at ?? null) : Number(dispatched),
      lease: leased?.lease ?? null,
    };
  }

  /** The lease an attempt was dispatched in, or null (a single, or not dispatched). */
  async leaseOf(rc: ResourceClass, id: string): Promise<string | null> {
    return parseLeaseOf(await this.redis.get(FAIR_KEYS.leaseOf(rc, id)))?.lease ?? null;
  }

  /** Attempts holding a dispatch slot, with the time they were dispatched. */
  async dispatchedSince(rc: ResourceClass): Promise<Array<{ id: string; at: number }>> {
    const flat = await this.redis.zrange(FAIR_KEYS.dispatched(rc), '0', '-1', 'WITHSCORES');
    const out: Array<{ id: string; at: number }> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i]!, at: Number(flat[i + 1]) });
    return out;
  }

  /**
   * The leader's repair of the occupancy: reads `count` members from `from` (its place in the zset) and drops
   * those whose node no longer waits for or runs that attempt (an end that never removed it: a step of an older
   * release, a lost purge), which count against their tenant's share until then. Bounded per call; `next` is
   * where the following call reads (0: the end was reached). Safe beside the steps: a node never goes back to
   * an attempt it is past, so what is dropped can no longer be added.
   */
  async healOccupancy(
    rc: ResourceClass,
    from: number,
    count: number,
  ): Promise<{ next: number; healed: string[] }> {
    const key = FAIR_KEYS.occupancy(rc);
    const ids = await this.redis.zrange(key, String(from), String(from + count - 1));
    const parsed = ids
      .filter((id) => id !== OCCUPANCY_AT_SHARE)
      .map((id) => ({ id, at: parseAttemptJobId(id) }));
    const pipe = this.redis.pipeline();
    for (const { at } of parsed) if (at) pipe.hmget(JOB_KEYS.node(at.jobId, at.nodeId), 'status', 'attempt');
    const nodes = parsed.some((p) => p.at) ? ((await pipe.exec()) ?? []) : [];
    const healed: string[] = [];
    let i = 0;
    for (const { id, at } of parsed) {
      if (!at) {
        healed.push(id);
        continue;
      }
      const [err, value] = nodes[i++] ?? [null, null];
      if (err) throw err;
      const [status, attempt] = (value ?? []) as Array<string | null>;
      const live = status === 'QUEUED' || status === 'RETRYING' || status === 'RUNNING';
      if (!live || Number(attempt) !== at.attempt) healed.push(id);
    }
    if (healed.length > 0) await this.redis.zrem(key, ...healed);
    return { next: ids.length < count ? 0 : from + ids.length - healed.length, healed };
  }

  /** Records the live actors of the class (raises the window to it until `ttlMs` passes). */
  async recordCapacity(rc: ResourceClass, actors: number, ttlMs: number): Promise<void> {
    await this.redis.set(FAIR_KEYS.capacity(rc), String(actors), 'PX', ttlMs);
  }

  async depth(rc: ResourceClass): Promise<StageDepth> {
    const res = await this.redis
      .multi()
      .hlen(FAIR_KEYS.held(rc))
      .zcard(FAIR_KEYS.delayed(rc))
      .llen(FAIR_KEYS.ring(rc))
      .zcard(FAIR_KEYS.dispatched(rc))
      .exec();
    const [held, delayed, tenants, dispatched] = (res ?? []).map(([err, v]) => {
      if (err) throw err;
      return Number(v);
    });
    return { held: held!, delayed: delayed!, tenants: tenants!, dispatched: dispatched! };
  }

  private async run(name: ScriptName, rc: ResourceClass, args: Array<string | number>): Promise<unknown[]> {
    return (await runScript(
      this.redis,
      name,
      [
        FAIR_KEYS.held(rc),
        FAIR_KEYS.ring(rc),
        FAIR_KEYS.delayed(rc),
        FAIR_KEYS.dispatched(rc),
        FAIR_KEYS.capacity(rc),
      ],
      [
        this.now(),
        this.window,
        FAIR_KEYS.ready(rc, ''),
        JOB_KEYS.job(''),
        Math.max(1, Math.floor(this.leaseSize(rc))),
        FAIR_KEYS.leaseOf(rc, ''),
        LEASE_OF_RETENTION_MS,
        this.dispatcher,
        ...args,
      ],
    )) as unknown[];
  }
}

/** "<dispatch ms>:<lease id>" (lease ids have no ':'), or null. */
function parseLeaseOf(value: unknown): { at: number; lease: string } | null {
  if (typeof value !== 'string') return null;
  const colon = value.indexOf(':');
  return colon > 0 ? { at: Number(value.slice(0, colon)), lease: value.slice(colon + 1) } : null;
}

/**
 * `[nextDue, dropped, id, entry, id, entry...]`, a lease's followers as "+<id>" after its first attempt, attempts
 * to take back as "-<id>" (with an empty entry) after what the step popped; every
 * entry is parsed (the stage is a process boundary). A follower's lease is named by its first attempt and the
 * step's replica even when that attempt did not parse (the step wrote the lease-of keys with that name).
 */
function parseStep(flat: unknown[], dispatcher: string): DispatchStep {
  const [nextDue, dropped, ...pairs] = flat;
  const dispatched: DispatchStep['dispatched'] = [];
  const invalid: DispatchStep['invalid'] = [];
  const takeBack: string[] = [];
  let lead: { id: string; item?: DispatchStep['dispatched'][number] } | undefined;
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const raw = String(pairs[i]);
    if (raw.startsWith('-')) {
      takeBack.push(raw.slice(1)); // a take-back candidate (no entry)
      continue;
    }
    const follows = raw.startsWith('+');
    const id = follows ? raw.slice(1) : raw;
    let item: DispatchStep['dispatched'][number] | undefined;
    try {
      item = { id, entry: parseContract(FairEntry, 'FairEntry', JSON.parse(String(pairs[i + 1]))) };
      dispatched.push(item);
    } catch (e) {
      invalid.push({ id, err: (e as Error).message });
    }
    if (!follows) lead = { id, item };
    else if (lead) {
      const lease = leaseIdOf(lead.id, dispatcher); // as the step names it (lua/includes/fair.lua)
      if (lead.item) lead.item.lease = lease;
      if (item) item.lease = lease;
    }
  }
  const due = Number(nextDue);
  return { dispatched, dropped: Number(dropped), nextDueMs: due >= 0 ? due : null, invalid, takeBack };
}
