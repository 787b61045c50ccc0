import { Redis } from 'ioredis';
import { attemptJobId, type NodeAttemptPayload } from '#libs/contracts';
import { redisPerSuite } from '#libs/testing';
import { FAIR_KEYS, FairQueue, type DispatchStep, type FairEntry } from './fair-queue.js';
import { JOB_KEYS } from './keys.js';

/** The fair-share stage's Lua steps against a real redis-server (no node queue: what they pop is the answer). */
describe('FairQueue (round robin over tenants, priority within one)', () => {
  const suite = redisPerSuite();
  let redis: Redis;
  let clock: number;
  const now = () => clock;

  beforeAll(() => {
    redis = suite.client;
  });
  beforeEach(async () => {
    clock = 1_800_000_000_000;
  });

  /** A node waiting for attempt 1 (what the stage checks before dispatching) and its stage entry. */
  const node = async (tenant: string, name: string, priority = 0, attempt = 1): Promise<FairEntry> => {
    const jobId = `job-${tenant}-${name}`;
    await redis.hset(JOB_KEYS.node(jobId, 'n'), { status: 'QUEUED', attempt: String(attempt) });
    const payload: NodeAttemptPayload = {
      jobId,
      tenant,
      nodeId: 'n',
      attempt,
      maxAttempts: 3,
      task: 'test.emit',
      taskVersion: '1.0.0',
      inputs: { name },
      timeoutMs: 1_000,
      enqueuedAt: new Date(clock).toISOString(),
    };
    return { tenant, priority, payload };
  };
  const names = (step: DispatchStep) => step.dispatched.map((d) => d.entry.payload.inputs.name as string);
  const idOf = (e: FairEntry) => attemptJobId(e.payload.jobId, e.payload.nodeId, e.payload.attempt);
  /** The attempts ended: what their end step does to the stage (lua/includes/common.lua endOccupancy). */
  const ended = async (...ids: string[]) => {
    if (ids.length > 0) await redis.zrem(FAIR_KEYS.occupancy('cpu'), ...ids);
  };

  it('dispatches round robin over tenants, one attempt per turn, a tenant rejoining at the tail', async () => {
    const fair = new FairQueue(redis, 1, now);
    const first = await node('A', 'a1');
    expect(names(await fair.enqueue('cpu', first, clock))).toEqual(['a1']); // the window had room
    for (const [t, n] of [
      ['A', 'a2'],
      ['A', 'a3'],
      ['A', 'a4'],
      ['A', 'a5'],
      ['B', 'b1'],
      ['B', 'b2'],
      ['C', 'c1'],
    ] as const) {
      const step = await fair.enqueue('cpu', await node(t, n), clock);
      expect(step).toMatchObject({ status: 'ready', dispatched: [] });
    }
    expect(await fair.depth('cpu')).toEqual({ held: 7, delayed: 0, tenants: 3, dispatched: 1 });
    const order: string[] = [];
    let slot = idOf(first);
    for (let i = 0; i < 7; i++) {
      // each attempt runs and ends before the next slot frees: every tenant occupies nothing at its turn
      await ended(slot);
      const step = await fair.release('cpu', slot);
      expect(step.released).toBe(true);
      expect(step.dispatched).toHaveLength(1);
      order.push(...names(step));
      slot = step.dispatched[0]!.id;
    }
    expect(order).toEqual(['a2', 'b1', 'c1', 'a3', 'b2', 'a4', 'a5']);
    expect(await fair.depth('cpu')).toEqual({ held: 0, delayed: 0, tenants: 0, dispatched: 1 });
    expect(await redis.keys(FAIR_KEYS.ready('cpu', '*'))).toEqual([]);
  });

  it("orders one tenant's attempts by job priority (higher first), then by arrival", async () => {
    const fair = new FairQueue(redis, 1, now);
    const blocker = await node('A', 'blocker');
    await fair.enqueue('cpu', blocker, clock);
    for (const [n, p] of [
      ['p0-first', 0],
      ['p10', 10],
      ['p5-first', 5],
      ['p0-second', 0],
      ['p5-second', 5],
      ['p1000', 1000],
    ] as const) {
      clock += 1;
      await fair.enqueue('cpu', await node('A', n, p), clock);
    }
    const order: string[] = [];
    let slot = idOf(blocker);
    for (let i = 0; i < 6; i++) {
      const step = await fair.release('cpu', slot);
      order.push(...names(step));
      slot = step.dispatched[0]!.id;
    }
    expect(order).toEqual(['p1000', 'p10', 'p5-first', 'p5-second', 'p0-first', 'p0-second']);
  });

  it('never has more than the window dispatched; the recorded live actors raise it', async () => {
    const fair = new FairQueue(redis, 3, now);
    let dispatched = 0;
    for (let i = 0; i < 10; i++)
      dispatched += (await fair.enqueue('cpu', await node(`t${i % 4}`, `x${i}`), clock)).dispatched.length;
    expect(dispatched).toBe(3);
    expect(await fair.dispatch('cpu')).toMatchObject({ dispatched: [] });
    await fair.recordCapacity('cpu', 5, 10_000);
    expect((await fair.dispatch('cpu')).dispatched).toHaveLength(2);
    expect((await fair.depth('cpu')).dispatched).toBe(5);
    // the other class has its own window
    expect((await fair.enqueue('gpu', await node('g', 'g1'), clock)).dispatched).toHaveLength(1);
  });

  it('holds a retry until its due time, then it joins its tenant’s turn', async () => {
    const fair = new FairQueue(redis, 5, now);
    const retry = await node('A', 'retry', 0, 2);
    const step = await fair.enqueue('cpu', retry, clock + 1_000);
    expect(step).toMatchObject({ status: 'delayed', dispatched: [], nextDueMs: clock + 1_000 });
    expect(await fair.placement('cpu', idOf(retry))).toEqual({
      held: 'delayed',
      dispatchedAt: null,
      lease: null,
    });
    clock += 999;
    expect(names(await fair.dispatch('cpu'))).toEqual([]);
    clock += 1;
    const due = await fair.dispatch('cpu');
    expect(names(due)).toEqual(['retry']);
    expect(due.nextDueMs).toBeNull();
    expect(await fair.placement('cpu', idOf(retry))).toEqual({
      held: null,
      dispatchedAt: clock,
      lease: null,
    });
  });

  it('removes an attempt wherever it is; a tenant left without attempts leaves the ring', async () => {
    const fair = new FairQueue(redis, 1, now);
    const blocker = await node('A', 'blocker');
    await fair.enqueue('cpu', blocker, clock);
    const b = await node('B', 'b1');
    const later = await node('B', 'later', 0, 2);
    await fair.enqueue('cpu', b, clock);
    await fair.enqueue('cpu', later, clock + 5_000);
    expect((await fair.remove('cpu', idOf(b))).removed).toBe(true);
    expect((await fair.remove('cpu', idOf(later))).removed).toBe(true);
    expect(await fair.depth('cpu')).toEqual({ held: 0, delayed: 0, tenants: 0, dispatched: 1 });
    expect((await fair.remove('cpu', idOf(b))).removed).toBe(false);
    // removing the dispatched one frees its slot
    expect((await fair.remove('cpu', idOf(blocker))).removed).toBe(true);
    expect((await fair.depth('cpu')).dispatched).toBe(0);
  });

  it('drops, instead of dispatching, an attempt its node no longer waits for', async () => {
    const fair = new FairQueue(redis, 1, now);
    const blocker = await node('A', 'blocker');
    await fair.enqueue('cpu', blocker, clock);
    const cancelled = await node('B', 'cancelled');
    const superseded = await node('C', 'superseded');
    const fine = await node('D', 'fine');
    for (const e of [cancelled, superseded, fine]) await fair.enqueue('cpu', e, clock);
    await redis.hset(JOB_KEYS.node(cancelled.payload.jobId, 'n'), 'status', 'CANCELLED');
    await redis.hset(JOB_KEYS.node(superseded.payload.jobId, 'n'), 'attempt', '2');
    const step = await fair.release('cpu', idOf(blocker));
    expect(names(step)).toEqual(['fine']);
    expect(step.dropped).toBe(2);
    expect(await fair.depth('cpu')).toEqual({ held: 0, delayed: 0, tenants: 0, dispatched: 1 });
  });

  it('repeats are harmless: a held attempt stays held, a dispatched one is answered "dispatched"', async () => {
    const fair = new FairQueue(redis, 1, now);
    const a = await node('A', 'a');
    const b = await node('B', 'b');
    await fair.enqueue('cpu', a, clock);
    await fair.enqueue('cpu', b, clock);
    expect((await fair.enqueue('cpu', a, clock)).status).toBe('dispatched');
    expect((await fair.enqueue('cpu', b, clock)).status).toBe('held');
    expect(await fair.depth('cpu')).toEqual({ held: 1, delayed: 0, tenants: 1, dispatched: 1 });
  });

  it('replicas racing to dispatch pop every attempt exactly once and never overfill the window', async () => {
    const replicas = [0, 1, 2].map(() => new FairQueue(redis, 4, now));
    const entries = await Promise.all(Array.from({ length: 60 }, (_, i) => node(`t${i % 5}`, `x${i}`)));
    const seen: string[] = [];
    const take = (s: DispatchStep) => seen.push(...s.dispatched.map((d) => d.id));
    await Promise.all(entries.map((e, i) => replicas[i % 3]!.enqueue('cpu', e, clock).then(take)));
    expect(await redis.zcard(FAIR_KEYS.dispatched('cpu'))).toBe(4);
    while (seen.length < 60) {
      const slots = await redis.zrange(FAIR_KEYS.dispatched('cpu'), '0', '-1');
      expect(slots.length).toBeLessThanOrEqual(4);
      // the attempts run and end (else each tenant stops at its share: 1 of a window of 4 over 5 tenants)
      await ended(...slots);
      // every replica tries to free every slot and to fill the window: only one release per slot counts
      await Promise.all(slots.flatMap((id) => replicas.map((r) => r.release('cpu', id).then(take))));
      await Promise.all(replicas.map((r) => r.dispatch('cpu').then(take)));
    }
    expect(new Set(seen).size).toBe(60);
    expect(seen).toHaveLength(60);
  });

  it('the next attempt goes to the tenant that occupies least; a tenant at its share waits for an end', async () => {
    const fair = new FairQueue(redis, 1, now);
    // four actors (the window grows to them): two tenants waiting get two each
    await fair.recordCapacity('cpu', 4, 60_000);
    const a: FairEntry[] = [];
    for (let i = 1; i <= 5; i++) a.push(await node('A', `a${i}`));
    const b: FairEntry[] = [];
    for (let i = 1; i <= 3; i++) b.push(await node('B', `b${i}`));
    for (const e of a.slice(0, 4)) expect(names(await fair.enqueue('cpu', e, clock))).toHaveLength(1);
    for (const e of [a[4]!, ...b]) await fair.enqueue('cpu', e, clock);
    expect(await fair.depth('cpu')).toMatchObject({ tenants: 2, dispatched: 4 });
    // a1 started: A occupies 4 (a1 and its three in the window), over its share; B nothing
    expect(names(await fair.release('cpu', idOf(a[0]!)))).toEqual(['b1']);
    expect(names(await fair.release('cpu', idOf(a[1]!)))).toEqual(['b2']);
    // A over and B at its share (2): nothing goes out while both wait; the window keeps its room
    expect((await fair.release('cpu', idOf(a[2]!))).dispatched).toEqual([]);
    expect((await fair.release('cpu', idOf(b[0]!))).dispatched).toEqual([]);
    expect(await fair.depth('cpu')).toMatchObject({ held: 2, tenants: 2, dispatched: 2 });
    // b1 ran and ended: B is under its share again; then B has no more, and A, alone in the ring, takes the
    // other free slot (a lone tenant is never held back)
    await ended(idOf(b[0]!));
    expect(names(await fair.dispatch('cpu'))).toEqual(['b3', 'a5']);
    expect(await redis.zcount(FAIR_KEYS.occupancy('cpu'), 0, '+inf')).toBe(7); // attempts (not the at-share mark)
    // an end applied twice and a removal: each attempt leaves the occupancy once
    await ended(idOf(a[0]!));
    await ended(idOf(a[0]!));
    await fair.remove('cpu', idOf(b[1]!));
    expect(await redis.zcount(FAIR_KEYS.occupancy('cpu'), 0, '+inf')).toBe(5);
  });

  it('a tenant waiting looks at most 16 tenants ahead; at their share, those move to the tail', async () => {
    const fair = new FairQueue(redis, 1, now);
    await fair.recordCapacity('cpu', 1, 60_000); // one actor: the share of any of 20 tenants is 1
    const first = await node('t0', 'x');
    await fair.enqueue('cpu', first, clock); // dispatched at once: t0 occupies 1
    for (let i = 0; i < 20; i++) await fair.enqueue('cpu', await node(`t${i}`, `y${i}`), clock);
    // t0..t19 in the ring; t0 is at its share and so is none other: t1 (occupies 0) is taken
    expect(names(await fair.release('cpu', idOf(first)))).toEqual(['y1']);
  });

  describe('leases (decision 0007)', () => {
    const leaseOf = (e: FairEntry) => redis.get(FAIR_KEYS.leaseOf('cpu', idOf(e)));

    it('a freed slot takes up to the lease size when more are ready than slots are free; followers hold no slot', async () => {
      const fair = new FairQueue(redis, 2, now, () => 4);
      const [x1, x2] = [await node('X', 'x1'), await node('X', 'x2')];
      for (const e of [x1, x2]) expect(names(await fair.enqueue('cpu', e, clock))).toHaveLength(1); // singles
      const ready = [];
      for (let i = 1; i <= 10; i++) ready.push(await node('A', `a${i}`));
      for (const e of ready) await fair.enqueue('cpu', e, clock++); // in arrival order
      const step = await fair.release('cpu', idOf(x1));
      expect(names(step)).toEqual(['a1', 'a2', 'a3', 'a4']);
      const lease = `lease.${idOf(ready[0]!)}`;
      expect(step.dispatched.map((d) => d.lease)).toEqual([lease, lease, lease, lease]);
      // one slot for the lease (its first attempt), one still x2's
      expect(await redis.zrange(FAIR_KEYS.dispatched('cpu'), '0', '-1')).toEqual([idOf(x2), idOf(ready[0]!)]);
      for (const e of ready.slice(0, 4)) expect(await leaseOf(e)).toBe(`${clock}:${lease}`);
      expect(await leaseOf(ready[4]!)).toBeNull();
      expect(await fair.placement('cpu', idOf(ready[2]!))).toEqual({
        held: null,
        dispatchedAt: clock,
        lease,
      });
      expect(await redis.pttl(FAIR_KEYS.leaseOf('cpu', idOf(ready[2]!)))).toBeGreaterThan(23 * 3600 * 1000);
      // the lease's first attempt starting frees its slot: the next lease goes out
      expect(names(await fair.release('cpu', idOf(ready[0]!)))).toEqual(['a5', 'a6', 'a7', 'a8']);
    });

    it('a lease skips the stale attempts it pops (a lone tenant in one pop, several round robin)', async () => {
      const fair = new FairQueue(redis, 1, now, () => 4);
      const x = await node('X', 'x');
      await fair.enqueue('cpu', x, clock);
      const a = [];
      for (let i = 1; i <= 7; i++) a.push(await node('A', `a${i}`));
      for (const e of a) await fair.enqueue('cpu', e, clock++);
      await redis.hset(JOB_KEYS.node(a[1]!.payload.jobId, 'n'), 'status', 'CANCELLED');
      await redis.hset(JOB_KEYS.node(a[3]!.payload.jobId, 'n'), 'attempt', '2');
      const lone = await fair.release('cpu', idOf(x));
      expect(names(lone)).toEqual(['a1', 'a3', 'a5', 'a6']);
      expect(lone.dropped).toBe(2);
      expect(await fair.depth('cpu')).toMatchObject({ held: 1, tenants: 1, dispatched: 1 });
      // two tenants: one pop per turn, alternating (A has a7 left; its lease ran and ended, as x did)
      await ended(idOf(x), ...lone.dispatched.map((d) => d.id));
      for (let i = 1; i <= 3; i++) await fair.enqueue('cpu', await node('B', `b${i}`), clock++);
      const shared = await fair.release('cpu', idOf(a[0]!));
      expect(names(shared)).toEqual(['a7', 'b1', 'b2', 'b3']);
      expect(await fair.depth('cpu')).toEqual({ held: 0, delayed: 0, tenants: 0, dispatched: 1 });
    });

    it('spreads what is ready over the free slots (three ready, three free: three singles), round robin as ever', async () => {
      const fair = new FairQueue(redis, 3, now, () => 8);
      for (const n of ['x1', 'x2', 'x3']) await fair.enqueue('cpu', await node('X', n), clock);
      for (const [t, n] of [
        ['A', 'a1'],
        ['A', 'a2'],
        ['B', 'b1'],
      ] as const)
        await fair.enqueue('cpu', await node(t, n), clock);
      await redis.del(FAIR_KEYS.dispatched('cpu')); // three slots free at once
      const step = await fair.dispatch('cpu');
      expect(names(step)).toEqual(['a1', 'b1', 'a2']);
      expect(step.dispatched.map((d) => d.lease)).toEqual([undefined, undefined, undefined]);
    });

    it('a leased attempt enqueued again is answered "leased" (never a second copy); remove forgets the lease', async () => {
      const fair = new FairQueue(redis, 1, now, () => 2);
      await fair.enqueue('cpu', await node('X', 'x'), clock);
      const [a1, a2] = [await node('A', 'a1'), await node('A', 'a2')];
      for (const e of [a1, a2]) await fair.enqueue('cpu', e, clock);
      await fair.release('cpu', idOf(await node('X', 'x')));
      expect(await leaseOf(a2)).not.toBeNull();
      expect(await fair.enqueue('cpu', a2, clock)).toMatchObject({ status: 'leased', dispatched: [] });
      expect((await fair.depth('cpu')).held).toBe(0);
      expect((await fair.remove('cpu', idOf(a2))).removed).toBe(true);
      expect(await leaseOf(a2)).toBeNull();
      expect((await fair.enqueue('cpu', a2, clock)).status).toBe('ready'); // on its own again (window full)
    });
  });
});
