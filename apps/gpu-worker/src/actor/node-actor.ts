import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ArtifactRepository } from '#libs/storage';
import {
  cancelledJobKey,
  type ActorInfo,
  type CancelNotice,
  type NodeAttemptPayload,
  type TaskManifest,
} from '#libs/contracts';
import { runIdOf } from '../runner/ipc-protocol.js';
import type { RunnerLogger, RunnerProcess, RunnerProcessOptions } from '../runner/runner-process.js';
import type { ActorSpec } from '../supervisor/actor-plan.js';
import type { RestartPolicy, SupervisedActor } from '../supervisor/supervisor.js';
import type { WorkerMetrics } from '../worker-metrics.js';
import { isSet, readLeaseStart, readPreflight } from './attempt-preflight.js';
import { retryWithin } from './retry.js';
import {
  offersTask,
  processAttempt,
  type ActiveAttempt,
  type AttemptPorts,
  type AttemptPreflight,
} from './attempt-processor.js';
import { runAttempt, runOrderFor } from './attempt-run.js';
import { ActorStateMachine, type ActorPhase } from './actor-state.js';
import { inAttemptSpan } from './attempt-trace.js';
import { LeasedAttemptPayload } from './node-payload.js';
import { isLease, processLease, type LeaseRunnerQueue } from './lease-processor.js';
import { FORCED_CLOSE_MS, LeaseSource } from './lease-source.js';
import type { ReportSink } from './report-sink.js';
import { within } from './retry.js';
import { RunnerSlot, type SlotState } from './runner-slot.js';
import type { TenantGuard } from './tenant-guard.js';

export interface ActorLogger extends RunnerLogger {
  debug(obj: object, msg: string): void;
}

export interface NodeActorOptions {
  spec: ActorSpec;
  workerId: string;
  decideRestart: RestartPolicy;
  /** The actor left quarantine (its probe succeeded): the supervisor forgets its restarts. */
  onRecovered: () => void;
  /** Called on every change the manifest shows at once (state, restarts, quarantine). */
  onChange: () => void;
  /**
   * Called when only the actor's activity changed (IDLE ⇄ BUSY, its current attempt): the manifest may
   * show it a little later (default: onChange).
   */
  onActivity?: () => void;
  /** Called with the task manifests each time a runner becomes ready. */
  onRunnerReady: (tasks: TaskManifest[]) => void;
  /** Shared command connection: cancelled-job checks. */
  redis: Redis;
  /** A fresh connection for each BullMQ Worker this actor creates (the watchdog may recreate it). */
  createWorkerConnection: () => Redis;
  closeConnection: (r: Redis) => Promise<void>;
  /** The queue of this actor's class, for the fetch watchdog's waiting count. */
  queue: Queue;
  reports: ReportSink;
  /** An attempt's `started` report waits this long for its next report, to share its write (0: at once). */
  startedLingerMs?: number;
  /** A lease's attempts are started only this long after the actor took it; the rest goes back (0007). */
  leaseSliceMs: number;
  /** Artifact storage, used for the runner (which has no credentials) on behalf of its attempt. */
  artifacts: ArtifactRepository;
  runner: Omit<RunnerProcessOptions, 'actorId' | 'cudaVisibleDevices' | 'slot' | 'device' | 'workRoot'>;
  workRoot: string;
  heartbeatTimeoutMs: number;
  cancelGraceMs: number;
  /** Window in which Redis reads of the attempt's start (cancelled check) are retried. */
  redisRetryWindowMs: number;
  restartBackoff: { baseMs: number; maxMs: number };
  quarantineCooldownMs: number;
  /** Counts runner kills per tenant and fails a throttled tenant's attempts fast. */
  tenants: TenantGuard;
  bullmq: { lockDurationMs: number; stalledIntervalMs: number; closeTimeoutMs: number };
  watchdog: { intervalMs: number; stallMs: number };
  logger: ActorLogger;
  metrics: WorkerMetrics;
}

/** The actor's parts, built from its options; tests hand in their own. */
export interface ActorParts {
  slot: Pick<RunnerSlot, 'start' | 'ready' | 'lost' | 'stop' | 'abandon' | 'quarantined' | 'restarts'>;
  lease: Pick<LeaseSource, 'open' | 'reopen' | 'close' | 'startWatchdog' | 'stopWatchdog' | 'markBusy'>;
}

export interface ActorWiring {
  onSlotState: (s: SlotState) => void;
  isBusy: () => boolean;
  process: (job: Job, token?: string) => Promise<void>;
  onLockLost: (bullJobIds: string[]) => void;
  isIdle: () => boolean;
  mayLease: () => boolean;
}

/**
 * One actor: a lease source (one BullMQ Worker, concurrency 1, on its class's queue), a runner slot (one
 * warm runner process on its device) and a state machine that says what it is doing. It routes leased
 * jobs to `processAttempt`, and cancel notices, lock loss and drain to the running attempt.
 */
export class NodeActor implements SupervisedActor {
  private readonly machine: ActorStateMachine;
  private readonly slot: ActorParts['slot'];
  private readonly lease: ActorParts['lease'];
  private active?: ActiveAttempt;
  /** The lease being run (a BullMQ job of several attempts), and whether BullMQ reported its lock lost. */
  private held?: { bullJobId: string; lockLost: boolean };
  /** The lease's attempts handed to the runner together, with their preflights (read together). */
  private handed?: HandedLease;

  constructor(
    private readonly o: NodeActorOptions,
    parts: (wiring: ActorWiring) => ActorParts = (w) => defaultParts(o, w),
  ) {
    this.machine = new ActorStateMachine(o.spec.id, (to, from) => {
      o.metrics.actorState(this.id, this.machine.published(this.active !== undefined));
      if (to === 'DRAINING') return;
      if ((to === 'BUSY' && from === 'IDLE') || (to === 'IDLE' && from === 'BUSY')) this.activity();
      else o.onChange();
    });
    ({ slot: this.slot, lease: this.lease } = parts({
      onSlotState: (s) => this.onSlotState(s),
      isBusy: () => this.active !== undefined,
      process: (job, token) => this.process(job, token),
      onLockLost: (ids) => this.onLockLost(ids),
      isIdle: () => this.machine.state === 'IDLE',
      mayLease: () => this.mayLease(),
    }));
  }

  get id(): string {
    return this.o.spec.id;
  }

  info(): ActorInfo {
    return {
      id: this.id,
      device: this.o.spec.label,
      resourceClass: this.o.spec.resourceClass,
      state: this.machine.published(this.active !== undefined),
      restarts: this.slot.restarts,
      ...(this.active ? { jobId: this.active.jobId, nodeId: this.active.nodeId } : {}),
      ...(this.slot.quarantined ? { quarantine: { ...this.slot.quarantined } } : {}),
    };
  }

  async start(): Promise<void> {
    this.move('RESTARTING');
    await this.slot.start();
    this.lease.startWatchdog();
    if (!this.mayLease()) return;
    this.move('IDLE');
    this.lease.open();
  }

  /**
   * A CancelNotice: stop the running attempt if it belongs to the cancelled job (and node); attempts of it
   * that wait in the runner (a lease's) are dropped there, and refused as cancelled when their turn comes,
   * never reported as started (one the runner started before the notice reached it is stopped as it runs).
   */
  cancel(notice: CancelNotice): void {
    const hits = (ref: { jobId: string; nodeId: string }) =>
      ref.jobId === notice.jobId && (!notice.nodeId || notice.nodeId === ref.nodeId);
    const runner = this.handed?.runner;
    for (const [runId, payload] of this.handed?.payloads ?? [])
      if (hits(payload) && runner?.holds(runId)) runner.cancel(runId, 'CANCELLED', notice.reason);
    const a = this.active;
    if (!a || !hits(a)) return;
    this.o.logger.info(
      { actor: this.id, jobId: a.jobId, nodeId: a.nodeId, reason: notice.reason },
      'cancelling the running attempt',
    );
    a.execution?.cancel(notice.reason);
  }

  /**
   * Cancel notices may have been lost (the cancel channel was down): the cancelled markers of the jobs whose
   * attempts this actor holds (the running one, a lease's waiting in the runner) are read in one round trip,
   * and each cancelled one is stopped as its notice would have stopped it.
   */
  async recheckCancelled(): Promise<void> {
    const runner = this.handed?.runner;
    const jobIds = new Set<string>();
    for (const [runId, payload] of this.handed?.payloads ?? [])
      if (runner?.holds(runId)) jobIds.add(payload.jobId);
    if (this.active) jobIds.add(this.active.jobId);
    if (jobIds.size === 0) return;
    const ids = [...jobIds];
    const markers = await retryWithin(this.o.redisRetryWindowMs, () =>
      this.o.redis.mget(ids.map(cancelledJobKey)),
    );
    ids.forEach((jobId, i) => {
      if (isSet(markers[i]))
        this.cancel({ jobId, reason: 'the job was cancelled while the cancel channel was down' });
    });
  }

  async drain(graceMs: number, boundMs: number): Promise<void> {
    this.move('DRAINING');
    this.lease.stopWatchdog();
    // what a lease queued in the runner and it has not started goes back with the lease's rest
    void this.takeBackQueued();
    const release = setTimeout(
      () => this.active?.execution?.release(`worker draining: grace of ${graceMs} ms is over`),
      graceMs,
    );
    // close() stops leasing at once and waits for the running attempt, which the timer above bounds; what
    // stays is its last report, which an unreachable Redis may hold up: bounded too, leaving time to kill
    // the runner.
    const killMs = this.o.runner.killGraceMs + FORCED_CLOSE_MS;
    const closeMs = Math.max(0, boundMs - killMs - 2 * FORCED_CLOSE_MS);
    // A close already under way (watchdog, quarantine) may have a longer bound of its own: cap it here.
    if ((await within(this.closeLease(closeMs, 'drain'), closeMs + 2 * FORCED_CLOSE_MS)) === 'timeout')
      this.o.logger.warn({ actor: this.id }, 'drain: abandoned closing the BullMQ worker');
    clearTimeout(release);
    // A runner restart under way waits for its boot: not within a drain's budget.
    if ((await within(this.slot.stop(), killMs)) === 'timeout') {
      this.o.logger.warn({ actor: this.id }, 'drain: the runner did not stop in time; killing it');
      this.slot.abandon();
    }
    this.move('STOPPED');
  }

  abandon(): void {
    this.move('DRAINING');
    this.lease.stopWatchdog();
    this.o.logger.error(
      { actor: this.id, jobId: this.active?.jobId, nodeId: this.active?.nodeId },
      'drain out of time: abandoned the actor, its runner killed',
    );
    this.slot.abandon();
  }

  private activity(): void {
    (this.o.onActivity ?? this.o.onChange)();
  }

  private mayLease(): boolean {
    return !this.machine.draining && this.slot.quarantined === undefined;
  }

  /** Every move goes through the machine; an illegal one is a bug: logged, counted, state kept. */
  private move(to: ActorPhase): void {
    if (!this.machine.canTransition(to)) {
      this.o.logger.error(
        { actor: this.id, from: this.machine.state, to },
        'illegal actor state transition refused',
      );
      return;
    }
    this.machine.transition(to);
  }

  /** The runner slot changed: mirror it in the actor's state and start or stop leasing. */
  private onSlotState(s: SlotState): void {
    if (this.machine.draining) return;
    if (s === 'RESTARTING') return this.move('RESTARTING');
    if (s === 'QUARANTINED') {
      this.move('QUARANTINED');
      if (!this.active) void this.closeLease(this.o.bullmq.closeTimeoutMs, 'quarantine');
      return;
    }
    // READY: back from a restart, or from quarantine (then leasing starts again).
    if (this.machine.state === 'QUARANTINED') {
      this.move('IDLE');
      void this.lease.reopen();
      return;
    }
    if (this.machine.state === 'STOPPED') return; // first boot: start() sets IDLE and opens the lease
    this.move(this.active ? 'BUSY' : 'IDLE');
  }

  private onLockLost(bullJobIds: string[]): void {
    // Also between two attempts of a lease: its loop stops before the next one.
    if (this.held && bullJobIds.includes(this.held.bullJobId)) this.held.lockLost = true;
    const a = this.active;
    if (!a || !bullJobIds.includes(a.bullJobId)) return;
    this.o.logger.error(
      { actor: this.id, jobId: a.jobId, nodeId: a.nodeId },
      'lost the lock of the running attempt; killing it',
    );
    a.execution?.loseLock('the worker lost its BullMQ lock on the attempt');
  }

  private closeLease(timeoutMs: number, why: 'drain' | 'quarantine'): Promise<void> {
    const a = this.active;
    return this.lease.close(timeoutMs, why, a ? { jobId: a.jobId, nodeId: a.nodeId } : undefined);
  }

  /** One leased job: an attempt's processing, or a lease's, wired to this actor. */
  private process(job: Job, token?: string): Promise<void> {
    if (isLease(job.data)) return this.processLease(job, token);
    // Parsed once here; a malformed payload is refused by processAttempt (UnrecoverableError), without a span.
    const parsed = LeasedAttemptPayload.safeParse(job.data);
    if (!parsed.success) return processAttempt(job, this.ports());
    return inAttemptSpan(parsed.data, () => processAttempt(job, this.ports(), parsed.data));
  }

  /** A lease: its attempts in order, each through processAttempt with a preflight that reads its node. */
  private async processLease(job: Job, token: string | undefined): Promise<void> {
    const held = { bullJobId: job.id!, lockLost: false };
    this.held = held;
    const ports = this.ports(true);
    try {
      await processLease(job, token, {
        actorId: this.id,
        sliceMs: this.o.leaseSliceMs,
        mustStop: () =>
          this.machine.draining ? 'draining' : this.slot.quarantined ? 'quarantined' : undefined,
        lockLost: () => held.lockLost,
        runAttempt: (payload) => inAttemptSpan(payload, () => processAttempt(job, ports, payload)),
        // BullMQ's lock of the lease: `<queue prefix:name>:<job id>:lock`, holding the token it leased the job with
        runnerQueue: this.runnerQueue(
          token === undefined ? undefined : { lockKey: `${job.queueQualifiedName}:${job.id}:lock`, token },
        ),
        logger: this.o.logger,
        metrics: this.o.metrics,
      });
    } finally {
      this.held = undefined;
    }
  }

  /** The lease's attempts in the runner: handed over together, claimed one by one by processAttempt. */
  private runnerQueue(owner?: LeaseOwner): LeaseRunnerQueue {
    // A lock read as the actor's has at least half the lock duration left (BullMQ renews it every half):
    // the actor knows the lease is its own until 0.4 of it after the read began, and starts attempts only then
    const ownedForMs = Math.floor(this.o.bullmq.lockDurationMs * 0.4);
    let ownedUntil = Number.POSITIVE_INFINITY; // without a token there is no lock to read (tests' fakes)
    return {
      handOver: async (attempts) => {
        const runner = await this.slot.ready();
        const readAt = Date.now();
        const { preflights, lock } = await readLeaseStart(this.preflightReader(), attempts, owner?.lockKey);
        if (owner) {
          if (lock !== owner.token) return false;
          ownedUntil = readAt + ownedForMs;
        }
        const handed: HandedLease = { runner, payloads: new Map(), preflights: new Map() };
        attempts.forEach((a, i) => handed.preflights.set(runIdOf(a), preflights[i]!));
        this.handed = handed;
        if (!runner) return true; // each attempt's processing says why (quarantined, draining)
        const runnable = attempts.filter((a, i) => {
          const pre = preflights[i]!;
          if (pre.superseded || pre.cancelled || pre.throttledUntil !== undefined) return false;
          return offersTask(runner, a);
        });
        for (const a of runnable) handed.payloads.set(runIdOf(a), a);
        // the runner starts none of them past the window: a paused actor's runner does not run on for it
        runner.enqueue(
          runnable.map((a) => runOrderFor(a, this.o.spec, this.o.workRoot)),
          owner ? ownedUntil : undefined,
        );
        // the slice bounds what starts: at its end the runner gives back what it has not started
        if (runnable.length > 1)
          handed.sliceTimer = setTimeout(() => void this.takeBackQueued(), this.o.leaseSliceMs);
        return true;
      },
      stillOwned: async () => {
        if (!owner || Date.now() < ownedUntil) return true;
        const readAt = Date.now();
        const lock = await retryWithin(this.o.redisRetryWindowMs, () => this.o.redis.get(owner.lockKey));
        if (lock !== owner.token) return false;
        ownedUntil = readAt + ownedForMs;
        return true;
      },
      takeBack: async (rest) => {
        const runner = this.handed?.runner;
        if (!runner) return 0;
        await runner.withdraw(rest.map(runIdOf).filter((id) => runner.holds(id)));
        let started = 0;
        rest.forEach((a, i) => {
          if (runner.holds(runIdOf(a))) started = i + 1;
        });
        return started;
      },
      release: async () => {
        const runner = this.handed?.runner;
        clearTimeout(this.handed?.sliceTimer);
        this.handed = undefined;
        if (!runner) return;
        await runner.withdraw(runner.unclaimedRunIds);
        runner.forgetEnded();
        // an attempt left in the runner that nobody will report: it must not go on (nor its death go unseen)
        if (runner.unclaimedRunIds.length > 0 && (runner.busy || runner.diedRunning))
          await this.slot.lost('a lease ended with one of its attempts still in the runner', 'platform');
      },
    };
  }

  /** The runs the runner has not started go back to the lease (which hands them back to the queue). */
  private async takeBackQueued(): Promise<void> {
    const runner = this.handed?.runner;
    await runner?.withdraw(runner.unclaimedRunIds).catch(() => undefined);
  }

  private preflightReader() {
    return { redis: this.o.redis, tenants: this.o.tenants, retryWindowMs: this.o.redisRetryWindowMs };
  }

  /** A leased attempt's preflight was read with its lease's (once: a second processing reads it again). */
  private preflight(payload: NodeAttemptPayload, leased: boolean): Promise<AttemptPreflight> {
    const runId = runIdOf(payload);
    const read = leased ? this.handed?.preflights.get(runId) : undefined;
    if (read) {
      this.handed!.preflights.delete(runId);
      // a cancel notice dropped it from the runner's queue before it started: refused as cancelled, unstarted
      if (this.handed!.runner?.takeCancelledUnstarted(runId))
        return Promise.resolve({ ...read, cancelled: true });
      return Promise.resolve(read);
    }
    return readPreflight(this.preflightReader(), payload, leased);
  }

  /** The runner an attempt its lease handed over is claimed on; any other runs on the slot's ready runner. */
  private runnerFor(payload: NodeAttemptPayload): Promise<RunnerProcess | undefined> {
    const runner = this.handed?.runner;
    if (runner?.holds(runIdOf(payload))) return Promise.resolve(runner);
    return this.slot.ready();
  }

  /** `leased`: the attempts come in a lease, so each preflight also checks that its attempt is still current. */
  private ports(leased = false): AttemptPorts<RunnerProcess> {
    return {
      actorId: this.o.spec.id,
      workerId: this.o.workerId,
      reports: this.o.reports,
      ...(this.o.startedLingerMs ? { startedLingerMs: this.o.startedLingerMs } : {}),
      preflight: (payload) => this.preflight(payload, leased),
      tenants: this.o.tenants,
      readyRunner: (payload) => this.runnerFor(payload),
      runnerLost: (reason, blame) => this.slot.lost(reason, blame),
      draining: () => this.machine.draining,
      run: (runner, payload, reporter, onExecution) =>
        runAttempt(runner, payload, reporter, {
          spec: this.o.spec,
          workRoot: this.o.workRoot,
          artifacts: this.o.artifacts,
          limits: { heartbeatTimeoutMs: this.o.heartbeatTimeoutMs, cancelGraceMs: this.o.cancelGraceMs },
          logger: this.o.logger,
          onExecution,
        }),
      onLeased: (active) => {
        this.active = active;
        this.lease.markBusy();
      },
      onRunning: () => this.move('BUSY'),
      onExecution: () => this.activity(),
      onFinished: () => {
        this.active = undefined;
        this.lease.markBusy();
        if (this.slot.quarantined) void this.closeLease(this.o.bullmq.closeTimeoutMs, 'quarantine');
        else if (this.machine.state === 'BUSY') this.move('IDLE');
        this.activity();
      },
      logger: this.o.logger,
      metrics: this.o.metrics,
    };
  }
}

/** The lease's BullMQ lock and the token the actor leased it with: the lease is the actor's while they match. */
interface LeaseOwner {
  lockKey: string;
  token: string;
}

interface HandedLease {
  /** The runner they went to; undefined when there was none ready (quarantined, draining). */
  runner: RunnerProcess | undefined;
  /** The attempts handed to it, by run id. */
  payloads: Map<string, NodeAttemptPayload>;
  /** Every attempt's preflight, by run id, until its processing takes it. */
  preflights: Map<string, AttemptPreflight>;
  sliceTimer?: NodeJS.Timeout;
}

/** The real parts: a RunnerSlot forking runners, a LeaseSource over BullMQ. */
function defaultParts(o: NodeActorOptions, w: ActorWiring): ActorParts {
  const slot = new RunnerSlot({
    actorId: o.spec.id,
    runner: {
      ...o.runner,
      actorId: o.spec.id,
      cudaVisibleDevices: o.spec.cudaVisibleDevices,
      slot: o.spec.slot,
      device: o.spec.device,
      workRoot: o.workRoot,
    },
    decideRestart: o.decideRestart,
    onRecovered: o.onRecovered,
    onRunnerReady: o.onRunnerReady,
    onState: w.onSlotState,
    isBusy: w.isBusy,
    restartBackoff: o.restartBackoff,
    quarantineCooldownMs: o.quarantineCooldownMs,
    logger: o.logger,
    metrics: o.metrics,
  });
  const lease = new LeaseSource({
    actorId: o.spec.id,
    resourceClass: o.spec.resourceClass,
    queue: o.queue,
    createConnection: o.createWorkerConnection,
    closeConnection: o.closeConnection,
    bullmq: o.bullmq,
    watchdog: o.watchdog,
    process: w.process,
    onLockLost: w.onLockLost,
    isIdle: w.isIdle,
    mayLease: w.mayLease,
    logger: o.logger,
    metrics: o.metrics,
  });
  return { slot, lease };
}
