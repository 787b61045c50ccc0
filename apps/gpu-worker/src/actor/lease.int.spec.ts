import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  BULLMQ_PREFIX,
  cancelledJobKey,
  NODE_QUEUES,
  REDIS_KEYS,
  leaseJobId,
  parseReportEntry,
  type NodeAttemptPayload,
} from '#libs/contracts';
import { startRedis, waitFor, type RedisHandle } from '#libs/testing';
import { NO_WORKER_METRICS, type LeaseHandBackReason, type WorkerMetrics } from '../worker-metrics.js';
import { NodeActor, type NodeActorOptions } from './node-actor.js';
import { testActorOptions } from './test/actor-options.js';

/*
 * Leases (decision 0007) run by a real actor: a real runner with the test tasks, real Redis and BullMQ. There
 * is no scheduler here: the spec writes the node hashes a leased attempt's preflight reads, and reads the
 * reports the actor writes.
 */

const logs: string[] = [];
/** Every log line with its fields, as JSON (what a test looks for in a field). */
const logFields: string[] = [];
const line = (level: string) => (o: object, m: string) => {
  logs.push(`${level}: ${m}`);
  logFields.push(JSON.stringify({ level, msg: m, ...o }));
};
const logger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };

/**
 * Stops this process's event loop for `ms` (a stop-the-world GC, a SIGSTOP): the actor's timers, its BullMQ
 * lock renewal and everything else in it wait; its runner, a process of its own, goes on.
 */
const pauseThisProcess = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * The leader's lost-lease repair, in a process of its own (this one is paused while it runs): once the lease's
 * BullMQ lock has lapsed it removes the lease and adds it again under its id with `rest` (LeaseRepairs:
 * reclaim, then requeueLease). The re-added lease is delayed a minute here, standing in for the other actor
 * that would take it: the paused actor must not run any of it.
 */
function repairWhenLockLapses(url: string, leaseId: string, rest: NodeAttemptPayload[]) {
  const script = `
    import { Queue } from 'bullmq';
    import { Redis } from 'ioredis';
    const a = JSON.parse(process.env.REPAIR);
    const r = new Redis(a.url, { maxRetriesPerRequest: null });
    const q = new Queue(a.queue, { connection: r, prefix: a.prefix });
    const lock = a.prefix + ':' + a.queue + ':' + a.id + ':lock';
    const sleep = (ms) => new Promise((s) => setTimeout(s, ms));
    while (!(await r.exists(lock))) await sleep(10);
    process.stdout.write('held\\n');
    while (await r.exists(lock)) await sleep(10);
    const removed = await q.remove(a.id);
    await q.add('lease', { attempts: a.rest }, { jobId: a.id, delay: 60000 });
    process.stdout.write('repaired ' + removed + '\\n');
    await q.close();
    r.disconnect();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: process.cwd(),
    env: {
      ...process.env,
      REPAIR: JSON.stringify({ url, prefix: BULLMQ_PREFIX, queue: NODE_QUEUES.cpu, id: leaseId, rest }),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return {
    held: () => waitFor(() => out.includes('held'), { timeoutMs: 10_000, what: 'the lease to be held' }),
    done: async () => {
      if (child.exitCode === null) await once(child, 'exit');
      return out;
    },
  };
}

const attempt = (jobId: string, ms: number, n = 1): NodeAttemptPayload => ({
  jobId,
  tenant: 'acme',
  nodeId: 'a',
  attempt: n,
  maxAttempts: 3,
  task: 'test.sleep',
  taskVersion: '1.0.0',
  inputs: { ms },
  timeoutMs: 30_000,
  enqueuedAt: new Date().toISOString(),
});

describe('NodeActor running leases', () => {
  let redis: RedisHandle;
  let client: Redis;
  let queue: Queue;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(NODE_QUEUES.cpu, { connection: client, prefix: BULLMQ_PREFIX });
  });
  afterAll(async () => {
    await queue.close();
    client.disconnect();
    await redis.stop();
  });
  // each test starts from an empty queue: what one left there (the drain test hands a lease's rest back) would
  // otherwise run first in the next
  beforeEach(() => queue.obliterate({ force: true }));

  /** A started actor; what it counted; drained at the end unless the test drained it. */
  async function withActor(
    overrides: Partial<NodeActorOptions>,
    test: (a: {
      actor: NodeActor;
      finished: string[];
      handedBack: LeaseHandBackReason[];
      queueWaits: number[];
      restarts: string[];
      drain: () => Promise<void>;
    }) => Promise<void>,
  ): Promise<void> {
    const finished: string[] = [];
    const restarts: string[] = [];
    const handedBack: LeaseHandBackReason[] = [];
    const queueWaits: number[] = [];
    const metrics: WorkerMetrics = {
      ...NO_WORKER_METRICS,
      attemptLeased: (_task, waitedMs) => void queueWaits.push(waitedMs),
      attemptFinished: (_task, outcome, code) => void finished.push(`${outcome}:${code ?? ''}`),
      leaseHandedBack: (reason) => void handedBack.push(reason),
      runnerRestarted: (_actor, blame) => void restarts.push(blame),
    };
    const actor = new NodeActor(
      testActorOptions({
        workerId: 'lw',
        redisUrl: redis.url,
        client,
        queue,
        metrics,
        logger,
        overrides: { leaseSliceMs: 60_000, ...overrides },
      }),
    );
    let drained: Promise<void> | undefined;
    const drain = () => (drained ??= actor.drain(10_000, 20_000));
    try {
      await actor.start();
      await test({ actor, finished, handedBack, queueWaits, restarts, drain });
    } finally {
      await drain();
    }
  }

  const setNode = (jobId: string, status: string, n = 1) =>
    client.hset(REDIS_KEYS.node(jobId, 'a'), { status, attempt: String(n) });

  const addLease = (attempts: NodeAttemptPayload[]): Promise<Job> =>
    queue.add('lease', { attempts }, { jobId: leaseJobId(attempts[0]!) });

  /** The start and end reports of the spec's attempts whose job ids start with `prefix`, in stream order. */
  async function reportsOf(prefix: string): Promise<string[]> {
    return (await client.xrange(REDIS_KEYS.reports, '-', '+'))
      .flatMap(([, f]) => parseReportEntry(f))
      .filter((r) => r.jobId.startsWith(prefix) && r.type !== 'progress' && r.type !== 'log')
      .map((r) => `${r.jobId} ${r.type}`);
  }

  /** Until the first attempt (`<prefix>1`) of the spec's lease has reported its start. */
  const firstStarted = (prefix: string) =>
    waitFor(async () => (await reportsOf(prefix)).includes(`${prefix}1 started`), {
      timeoutMs: 30_000,
      what: 'the first attempt of the lease to start',
      logs: () => logs.join('\n'),
    });

  const completed = (job: Job) =>
    waitFor(async () => (await queue.getJobState(job.id!)) === 'completed', {
      timeoutMs: 30_000,
      what: `lease ${job.id} to complete`,
      logs: () => logs.join('\n'),
    });

  const leaseData = async (job: Job) =>
    ((await queue.getJob(job.id!))!.data as { attempts: NodeAttemptPayload[] }).attempts.map((a) => a.jobId);

  it('runs a lease of three in order: one start and one success each, then completes the lease', async () => {
    await withActor({}, async ({ handedBack, queueWaits }) => {
      const attempts = ['A1', 'A2', 'A3'].map((id) => attempt(id, 20));
      for (const a of attempts) await setNode(a.jobId, 'QUEUED');
      const job = await addLease(attempts);
      await completed(job);
      expect(await reportsOf('A')).toEqual([
        'A1 started',
        'A1 succeeded',
        'A2 started',
        'A2 succeeded',
        'A3 started',
        'A3 succeeded',
      ]);
      expect(handedBack).toEqual([]);
      // each attempt's queue wait runs until the actor came to it: also while the ones before it ran (20 ms
      // each). Pairwise only the order is sure: the runner starts the next one when the one before ends, and
      // the actor comes to it when it has seen and reported that end, a lag that varies with the machine's load
      // (10 ms once in CI); from the first to the third the two runs before it are always in, less the moment
      // between the runner starting the first and the actor coming to it (and a timer firing a ms early)
      expect(queueWaits).toHaveLength(3);
      expect(queueWaits[1]!).toBeGreaterThan(queueWaits[0]!);
      expect(queueWaits[2]!).toBeGreaterThan(queueWaits[1]!);
      expect(queueWaits[2]! - queueWaits[0]!).toBeGreaterThanOrEqual(30);
    });
  });

  it('skips, without any report, the attempts whose node ended or moved on; runs the others', async () => {
    await withActor({}, async ({ finished }) => {
      const attempts = [attempt('B1', 20), attempt('B2', 20), attempt('B3', 20), attempt('B4', 20)];
      await setNode('B1', 'QUEUED');
      await setNode('B2', 'SUCCEEDED'); // ran before its lease's first actor died
      await setNode('B3', 'QUEUED', 2); // another attempt of the node is current
      await setNode('B4', 'RUNNING'); // the dead actor was running it: run it again
      const job = await addLease(attempts);
      await completed(job);
      expect(await reportsOf('B')).toEqual(['B1 started', 'B1 succeeded', 'B4 started', 'B4 succeeded']);
      expect(finished).toEqual(['succeeded:', 'skipped:SUPERSEDED', 'skipped:SUPERSEDED', 'succeeded:']);
    });
  });

  it('hands the rest back at the tail when the slice is over; every attempt still runs once, in order', async () => {
    await withActor({ leaseSliceMs: 1 }, async ({ handedBack }) => {
      const attempts = ['C1', 'C2', 'C3'].map((id) => attempt(id, 50));
      for (const a of attempts) await setNode(a.jobId, 'QUEUED');
      const job = await addLease(attempts);
      await completed(job);
      expect(await reportsOf('C')).toEqual([
        'C1 started',
        'C1 succeeded',
        'C2 started',
        'C2 succeeded',
        'C3 started',
        'C3 succeeded',
      ]);
      expect(handedBack).toEqual(['slice', 'slice']);
      expect(await leaseData(job)).toEqual(['C3']); // the data shrank with each hand-back
      expect(logs).toContain('debug: handed the rest of a lease back to the queue');
    });
  });

  it('a drain in the middle of a lease lets the running attempt finish and hands the unstarted rest back', async () => {
    await withActor({}, async ({ handedBack, drain }) => {
      const attempts = [attempt('D1', 1_500), attempt('D2', 20), attempt('D3', 20)];
      for (const a of attempts) await setNode(a.jobId, 'QUEUED');
      const job = await addLease(attempts);
      await firstStarted('D');
      await drain();
      expect(await reportsOf('D')).toEqual(['D1 started', 'D1 succeeded']);
      expect(handedBack).toEqual(['draining']);
      expect(['delayed', 'waiting']).toContain(await queue.getJobState(job.id!));
      expect(await leaseData(job)).toEqual(['D2', 'D3']);
    });
  });

  it('a lost lock kills the running attempt and ends the lease: the rest is neither run nor reported', async () => {
    const bullmq = { lockDurationMs: 1_000, stalledIntervalMs: 60_000, closeTimeoutMs: 1_000 };
    await withActor({ bullmq }, async ({ finished }) => {
      const attempts = [attempt('E1', 5_000), attempt('E2', 20), attempt('E3', 20)];
      for (const a of attempts) await setNode(a.jobId, 'QUEUED');
      const job = await addLease(attempts);
      await firstStarted('E');
      // another actor took the lease over (as after a stall): the next lock renewal fails
      await client.set(`${BULLMQ_PREFIX}:${NODE_QUEUES.cpu}:${job.id}:lock`, 'another-actor', 'PX', 60_000);
      await waitFor(
        () =>
          logs.includes(
            'warn: lost the lock of the lease: its other attempts are left to the actor that has it',
          ),
        {
          timeoutMs: 10_000,
          what: 'the lease to stop on its lost lock',
          logs: () => logs.join('\n'),
        },
      );
      expect(await reportsOf('E')).toEqual(['E1 started']); // no terminal report: the new owner reports
      expect(finished).toEqual(['lock_lost:LOCK_LOST']);
    });
  });
  it('a cancel notice for an attempt waiting in the runner ends it CANCELLED unrun and unstarted; the others run', async () => {
    await withActor({}, async ({ actor, finished }) => {
      const attempts = [attempt('F1', 400), attempt('F2', 5_000), attempt('F3', 20)];
      for (const a of attempts) await setNode(a.jobId, 'QUEUED');
      const job = await addLease(attempts);
      await firstStarted('F');
      actor.cancel({ jobId: 'F2', reason: 'cancelled by request' });
      await completed(job);
      // F2 never started: no `started` report for it, only its end
      expect(await reportsOf('F')).toEqual([
        'F1 started',
        'F1 succeeded',
        'F2 failed',
        'F3 started',
        'F3 succeeded',
      ]);
      const f2 = (await client.xrange(REDIS_KEYS.reports, '-', '+'))
        .flatMap(([, f]) => parseReportEntry(f))
        .find((r) => r.jobId === 'F2');
      expect(f2).toMatchObject({ type: 'failed', error: { code: 'CANCELLED', retryable: false } });
      expect(finished).toEqual(['succeeded:', 'skipped:CANCELLED', 'succeeded:']);
    });
  });

  it('cancelled markers read again (the cancel channel reconnected) stop a waiting attempt whose notice was lost', async () => {
    await withActor({}, async ({ actor, finished }) => {
      const attempts = [attempt('H1', 400), attempt('H2', 5_000), attempt('H3', 20)];
      for (const a of attempts) await setNode(a.jobId, 'QUEUED');
      const job = await addLease(attempts);
      await firstStarted('H');
      await client.set(cancelledJobKey('H2'), '1'); // cancelled; its notice never arrived
      await actor.recheckCancelled();
      await completed(job);
      expect(await reportsOf('H')).toEqual([
        'H1 started',
        'H1 succeeded',
        'H2 failed',
        'H3 started',
        'H3 succeeded',
      ]);
      expect(finished).toEqual(['succeeded:', 'skipped:CANCELLED', 'succeeded:']);
    });
  });

  it('a runner dying in the middle of a lease fails that attempt (its fault) and runs the rest once each', async () => {
    await withActor({}, async ({ finished, restarts, handedBack }) => {
      const crash: NodeAttemptPayload = {
        ...attempt('G2', 0),
        task: 'test.crash',
        inputs: { exitCode: 3 },
      };
      const attempts = [attempt('G1', 0), crash, attempt('G3', 0), attempt('G4', 0)];
      for (const a of attempts) await setNode(a.jobId, 'QUEUED');
      const job = await addLease(attempts);
      await completed(job);
      expect(await reportsOf('G')).toEqual([
        'G1 started',
        'G1 succeeded',
        'G2 started',
        'G2 failed',
        'G3 started',
        'G3 succeeded',
        'G4 started',
        'G4 succeeded',
      ]);
      expect(finished).toEqual(['succeeded:', 'failed:CRASHED', 'succeeded:', 'succeeded:']);
      expect(restarts).toEqual(['attempt']); // one restart, charged to the attempt, not to the actor
      expect(handedBack).toEqual([]);
    });
  });
  it('an attempt that leaves tensors in the runner succeeds; the runner is replaced (charged to nobody) and the rest of the lease runs once each on the new one', async () => {
    await withActor({}, async ({ finished, restarts, handedBack }) => {
      const leak: NodeAttemptPayload = {
        ...attempt('R2', 0),
        task: 'test.retain-tensors',
        inputs: { floats: 1000 },
      };
      const attempts = [attempt('R1', 0), leak, attempt('R3', 0), attempt('R4', 0)];
      for (const a of attempts) await setNode(a.jobId, 'QUEUED');
      const job = await addLease(attempts);
      await completed(job);
      expect(await reportsOf('R')).toEqual([
        'R1 started',
        'R1 succeeded',
        'R2 started',
        'R2 succeeded',
        'R3 started',
        'R3 succeeded',
        'R4 started',
        'R4 succeeded',
      ]);
      expect(finished).toEqual(['succeeded:', 'succeeded:', 'succeeded:', 'succeeded:']);
      expect(restarts).toEqual(['platform']);
      expect(logs).toContain('warn: replacing the runner: the attempt left memory in it');
      expect(handedBack).toEqual([]);
    });
  });

  it('an actor paused past its lock, whose lease was repaired meanwhile, starts none of the re-added attempts when it wakes', async () => {
    // a lock of 1 s (renewed every 0.5 s); no stalled check of this worker's own in the way
    const bullmq = { lockDurationMs: 1_000, stalledIntervalMs: 60_000, closeTimeoutMs: 1_000 };
    await withActor({ bullmq }, async () => {
      const attempts = [attempt('P1', 2_500), attempt('P2', 3_000), attempt('P3', 20)];
      for (const a of attempts) await setNode(a.jobId, 'QUEUED');
      const leaseId = leaseJobId(attempts[0]!);
      // started before the lease exists: it waits for the lock to be taken, then for it to lapse
      const leader = repairWhenLockLapses(redis.url, leaseId, attempts.slice(1));
      const job = await addLease(attempts);
      await leader.held();
      await firstStarted('P');
      // P1 started while the lease was this actor's. Now the actor stops for 4 s: its lock lapses after 1 s,
      // the leader re-adds P2 and P3 under the lease's id, and P1 ends in the runner after 2.5 s
      pauseThisProcess(4_000);
      expect(await leader.done()).toContain('repaired 1');
      // what the woken actor does with the lease: it ends there (lost lock or lost lease), its rest unrun
      await waitFor(() => logs.some((l) => /lost the lock of the lease|no longer this actor's/.test(l)), {
        timeoutMs: 10_000,
        what: 'the woken actor to let the lease go',
        logs: () => logs.join('\n'),
      });
      await new Promise((r) => setTimeout(r, 1_000)); // what it would still report or restart
      // neither reported (that P2 ran would be applied beside the new owner's run of it)…
      expect((await reportsOf('P')).filter((r) => !r.startsWith('P1 '))).toEqual([]);
      // …nor run in its runner: a runner left running an attempt nobody reports is restarted, and says so
      expect(
        logFields.filter((l) => l.includes('a lease ended with one of its attempts still in the runner')),
      ).toEqual([]);
      // the re-added lease is the new owner's, untouched
      expect(await queue.getJobState(job.id!)).toBe('delayed');
      expect(await leaseData(job)).toEqual(['P2', 'P3']);
    });
  });
});
