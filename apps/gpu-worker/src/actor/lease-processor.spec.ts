import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { NodeAttemptPayload, NodeReport } from '#libs/contracts';
import type { LeaseHandBackReason } from '../worker-metrics.js';
import { isLease, processLease, type LeasePorts } from './lease-processor.js';
import { ReportUndeliverableError } from './report-sink.js';

const attempt = (jobId: string) => ({
  jobId,
  tenant: 'acme',
  nodeId: 'a',
  attempt: 1,
  maxAttempts: 3,
  task: 'test.sleep',
  taskVersion: '1.0.0',
  inputs: { ms: 1 },
  timeoutMs: 10_000,
  enqueuedAt: '2026-01-01T00:00:00.000Z',
});

/** A BullMQ job in memory: what the lease processor calls on it is recorded. */
function fakeJob(data: unknown, o: { moveFails?: boolean } = {}) {
  const calls: Array<[string, unknown]> = [];
  const job = {
    id: 'lease.j1.a.1',
    data,
    updateData: async (d: unknown) => void calls.push(['updateData', d]),
    moveToDelayed: async (ts: number, token?: string) => {
      if (o.moveFails) throw new Error('Connection is closed.');
      calls.push(['moveToDelayed', { due: ts <= Date.now(), token }]);
    },
  } as unknown as Job;
  return { job, calls };
}

/** Ports in memory: a clock the attempts advance, the actor's stop reason and lock state scripted. */
function fakePorts(
  o: {
    sliceMs?: number;
    attemptMs?: number;
    stopAt?: Record<number, 'draining' | 'quarantined'>;
    lockLostDuring?: string;
    throwIn?: string;
    /** At a stop, how many of the rest the runner had already started (they must be run first). */
    startedAhead?: number;
    /** The lease's lock is not the actor's when handed over (false), or from before this attempt on (id). */
    ownedUntil?: false | string;
  } = {},
) {
  let clock = 1_000;
  let lockLost = false;
  let notOwned = 0;
  const ran: string[] = [];
  /** What the lease asked of the runner queue, in order. */
  const queue: string[] = [];
  const handedBack: LeaseHandBackReason[] = [];
  const logs: string[] = [];
  const log = (level: string) => (_o: object, m: string) => void logs.push(`${level}: ${m}`);
  const ports: LeasePorts = {
    actorId: 'w/cpu0',
    sliceMs: o.sliceMs ?? 1_000,
    mustStop: () => o.stopAt?.[ran.length],
    lockLost: () => lockLost,
    runAttempt: async (p: NodeAttemptPayload) => {
      ran.push(p.jobId);
      clock += o.attemptMs ?? 10;
      if (p.jobId === o.lockLostDuring) lockLost = true;
      if (p.jobId === o.throwIn)
        throw new ReportUndeliverableError(
          { type: 'succeeded', jobId: p.jobId, nodeId: 'a', attempt: 1 } as NodeReport,
          new Error('redis down'),
          3,
        );
    },
    runnerQueue: {
      handOver: async (attempts) => {
        queue.push(`handOver ${attempts.map((a) => a.jobId).join(',')}`);
        return o.ownedUntil !== false;
      },
      stillOwned: async () => o.ownedUntil === undefined || !ran.includes(o.ownedUntil as string),
      takeBack: async (rest) => {
        queue.push(`takeBack ${rest.map((a) => a.jobId).join(',')}`);
        return Math.min(o.startedAhead ?? 0, rest.length);
      },
      release: async () => void queue.push('release'),
    },
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    metrics: { leaseHandedBack: (r) => void handedBack.push(r), leaseNotOwned: () => void notOwned++ },
    now: () => clock,
  };
  return { ports, ran, handedBack, logs, queue, notOwned: () => notOwned };
}

const lease = (...ids: string[]) => ({ attempts: ids.map(attempt) });

describe('processLease', () => {
  it('runs the attempts in order and returns normally (BullMQ completes the lease)', async () => {
    const { job, calls } = fakeJob(lease('j1', 'j2', 'j3'));
    const f = fakePorts();
    await processLease(job, 'tok', f.ports);
    expect(f.ran).toEqual(['j1', 'j2', 'j3']);
    expect(calls).toEqual([]);
    expect(f.handedBack).toEqual([]);
    expect(f.queue).toEqual(['handOver j1,j2,j3', 'release']);
  });

  it('at a stop, runs to their end the attempts the runner already started, then hands back the rest', async () => {
    const { job, calls } = fakeJob(lease('j1', 'j2', 'j3', 'j4'));
    const f = fakePorts({ sliceMs: 100, attemptMs: 60, startedAhead: 1 });
    await expect(processLease(job, 'tok', f.ports)).rejects.toBeInstanceOf(DelayedError);
    expect(f.ran).toEqual(['j1', 'j2', 'j3']); // j3 had started in the runner when the slice ended
    expect(calls[0]).toEqual(['updateData', lease('j4')]);
    expect(f.queue).toEqual(['handOver j1,j2,j3,j4', 'takeBack j3,j4', 'release']);
  });

  it('at a stop where the runner had started every attempt left, nothing is handed back', async () => {
    const { job, calls } = fakeJob(lease('j1', 'j2'));
    const f = fakePorts({ stopAt: { 1: 'draining' }, startedAhead: 5 });
    await processLease(job, 'tok', f.ports);
    expect(f.ran).toEqual(['j1', 'j2']);
    expect(calls).toEqual([]);
    expect(f.handedBack).toEqual([]);
  });

  it('hands the unstarted rest back once the slice is over: data shrinks, the job goes to the tail', async () => {
    const { job, calls } = fakeJob(lease('j1', 'j2', 'j3', 'j4'));
    const f = fakePorts({ sliceMs: 100, attemptMs: 60 });
    await expect(processLease(job, 'tok', f.ports)).rejects.toBeInstanceOf(DelayedError);
    expect(f.ran).toEqual(['j1', 'j2']); // at 60 ms the slice still runs j2; at 120 ms it is over
    expect(calls).toEqual([
      ['updateData', lease('j3', 'j4')],
      ['moveToDelayed', { due: true, token: 'tok' }],
    ]);
    expect(f.handedBack).toEqual(['slice']);
  });

  it('always runs the first attempt, however long the slice is over', async () => {
    const { job, calls } = fakeJob(lease('j1', 'j2'));
    const f = fakePorts({ sliceMs: 1, attemptMs: 500 });
    await expect(processLease(job, 'tok', f.ports)).rejects.toBeInstanceOf(DelayedError);
    expect(f.ran).toEqual(['j1']);
    expect(calls[0]).toEqual(['updateData', lease('j2')]);
  });

  it('a draining actor hands the whole lease back before its first attempt, data unchanged', async () => {
    const { job, calls } = fakeJob(lease('j1', 'j2'));
    const f = fakePorts({ stopAt: { 0: 'draining' } });
    await expect(processLease(job, 'tok', f.ports)).rejects.toBeInstanceOf(DelayedError);
    expect(f.ran).toEqual([]);
    expect(calls).toEqual([['moveToDelayed', { due: true, token: 'tok' }]]);
    expect(f.handedBack).toEqual(['draining']);
  });

  it('an actor quarantined after an attempt hands back the rest', async () => {
    const { job, calls } = fakeJob(lease('j1', 'j2', 'j3'));
    const f = fakePorts({ stopAt: { 1: 'quarantined' } });
    await expect(processLease(job, 'tok', f.ports)).rejects.toBeInstanceOf(DelayedError);
    expect(f.ran).toEqual(['j1']);
    expect(calls[0]).toEqual(['updateData', lease('j2', 'j3')]);
    expect(f.handedBack).toEqual(['quarantined']);
  });

  it('a lost lock stops the lease without running, handing back or reporting the rest', async () => {
    const { job, calls } = fakeJob(lease('j1', 'j2', 'j3'));
    const f = fakePorts({ lockLostDuring: 'j1', sliceMs: 1 });
    await processLease(job, 'tok', f.ports);
    expect(f.ran).toEqual(['j1']);
    expect(calls).toEqual([]);
    expect(f.handedBack).toEqual([]);
    expect(f.logs).toContain(
      'warn: lost the lock of the lease: its other attempts are left to the actor that has it',
    );
    expect(f.queue).toEqual(['handOver j1,j2,j3', 'release']); // what is left in the runner is taken back
  });

  it('a hand-back Redis refuses propagates, logged (the stalled check re-queues the lease)', async () => {
    const { job } = fakeJob(lease('j1', 'j2'), { moveFails: true });
    const f = fakePorts({ sliceMs: 1 });
    await expect(processLease(job, 'tok', f.ports)).rejects.toThrow('Connection is closed.');
    expect(f.handedBack).toEqual([]);
    expect(f.logs).toContain(
      'error: could not hand the rest of a lease back; it fails, and the leader re-queues its unstarted attempts',
    );
  });

  it('an undeliverable terminal report fails the lease; the rest is not run', async () => {
    const { job, calls } = fakeJob(lease('j1', 'j2'));
    const f = fakePorts({ throwIn: 'j1' });
    await expect(processLease(job, 'tok', f.ports)).rejects.toBeInstanceOf(ReportUndeliverableError);
    expect(f.ran).toEqual(['j1']);
    expect(calls).toEqual([]);
    expect(f.queue).toEqual(['handOver j1,j2', 'release']);
  });

  it.each([
    ['an attempt without ids', { attempts: [{ jobId: 'j1' }] }],
    ['an empty lease', { attempts: [] }],
    [
      'one attempt malformed among good ones',
      { attempts: [attempt('j1'), { ...attempt('j2'), attempt: 0 }] },
    ],
  ])('refuses a malformed lease as unrecoverable, running nothing (%s)', async (_name, data) => {
    const { job } = fakeJob(data);
    const f = fakePorts();
    await expect(processLease(job, 'tok', f.ports)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(f.ran).toEqual([]);
    expect(f.logs).toEqual(['error: refused a malformed lease']);
  });
});

describe('isLease', () => {
  it('tells a lease from a single attempt', () => {
    expect(isLease(lease('j1'))).toBe(true);
    expect(isLease({ attempts: 'x' })).toBe(false);
    expect(isLease(attempt('j1'))).toBe(false);
    expect(isLease(null)).toBe(false);
  });

  it("a lease whose lock is not the actor's when it is handed over runs nothing, reports nothing, hands nothing back", async () => {
    const { job, calls } = fakeJob(lease('j1', 'j2'));
    const f = fakePorts({ ownedUntil: false });
    await processLease(job, 'tok', f.ports);
    expect(f.ran).toEqual([]);
    expect(calls).toEqual([]);
    expect(f.queue).toEqual(['handOver j1,j2', 'release']);
    expect(f.notOwned()).toBe(1);
    expect(f.logs.some((l) => l.startsWith("warn: the lease is no longer this actor's"))).toBe(true);
  });

  it("stops before the next attempt once the lease is no longer the actor's (read again past its window)", async () => {
    const { job, calls } = fakeJob(lease('j1', 'j2', 'j3'));
    const f = fakePorts({ ownedUntil: 'j1' });
    await processLease(job, 'tok', f.ports);
    expect(f.ran).toEqual(['j1']);
    expect(calls).toEqual([]); // not handed back: the lease is its owner's
    expect(f.handedBack).toEqual([]);
    expect(f.notOwned()).toBe(1);
  });
});
