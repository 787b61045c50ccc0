import type { ActorInfo } from '#libs/contracts';
import type { ActorSpec } from './actor-plan.js';
import { RestartIntensity } from './restart-intensity.js';
import { WorkerLifecycle, type WorkerState } from './worker-lifecycle.js';

/** What the supervisor needs of an actor; the BullMQ-backed actor implements it, tests use their own. */
export interface SupervisedActor {
  readonly id: string;
  start(): Promise<void>;
  /**
   * Stop leasing; let the running attempt finish within graceMs, then stop it and hand it back. Done
   * within boundMs (≥ graceMs), abandoning what does not fit (e.g. a report Redis cannot take).
   */
  drain(graceMs: number, boundMs: number): Promise<void>;
  /** The drain overran its bound: kill at once whatever the actor started (its runner), wait for nothing. */
  abandon(): void;
  info(): ActorInfo;
}

/**
 * How an actor asks what to do after it lost its runner by its own fault (the runner cannot start or
 * died idle; losses caused by an attempt are not asked about). On 'quarantine' the actor stops leasing
 * until its cool-down probe succeeds (then it calls `recovered`); meanwhile the worker reports not-ready
 * (DESIGN), while its other actors go on leasing (it still accepts work: see isAccepting).
 */
export type RestartDecision = 'restart' | 'quarantine';
export type RestartPolicy = (actorId: string, reason: string) => RestartDecision;

export interface SupervisorOptions {
  specs: ActorSpec[];
  createActor: (spec: ActorSpec, decideRestart: RestartPolicy) => SupervisedActor;
  intensity: { maxRestarts: number; periodMs: number };
  drainGraceMs: number;
  /** Extra time after the grace for actors to stop their attempts and close, before drain gives up. */
  drainForceMs: number;
  now?: () => number;
  onEvent?: (event: SupervisorEvent) => void;
}

export type SupervisorEvent =
  | { type: 'state'; state: WorkerState }
  | { type: 'restart'; actorId: string; reason: string; recent: number }
  | { type: 'quarantine'; actorId: string; reason: string }
  | { type: 'recovered'; actorId: string }
  | { type: 'drain-timeout'; actorIds: string[] }
  | { type: 'actor-changed'; actorId: string };

export interface SupervisorSnapshot {
  state: WorkerState;
  ready: boolean;
  accepting: boolean;
  actors: ActorInfo[];
  quarantined: string[];
}

/**
 * The worker's supervisor: starts one actor per planned device, decides restarts against OTP-style
 * restart intensity (over it: quarantine, worker not ready), and drains on shutdown. Free of BullMQ,
 * Redis and Nest: actors are injected.
 */
export class Supervisor {
  private readonly lifecycle = new WorkerLifecycle();
  private readonly actors: SupervisedActor[];
  private readonly intensities = new Map<string, RestartIntensity>();
  private readonly quarantined = new Map<string, string>();
  private drainPromise?: Promise<void>;

  constructor(private readonly opts: SupervisorOptions) {
    this.lifecycle.onChange((state) => opts.onEvent?.({ type: 'state', state }));
    for (const spec of opts.specs) {
      this.intensities.set(
        spec.id,
        new RestartIntensity(opts.intensity.maxRestarts, opts.intensity.periodMs, opts.now),
      );
    }
    this.actors = opts.specs.map((spec) =>
      opts.createActor(spec, (id, reason) => this.decideRestart(id, reason)),
    );
  }

  get state(): WorkerState {
    return this.lifecycle.state;
  }

  /** Start every actor; resolves once all lease (or the worker began draining meanwhile). */
  async start(): Promise<void> {
    try {
      await Promise.all(this.actors.map((a) => a.start()));
    } catch (e) {
      if (this.lifecycle.canTransition('STOPPED') && this.lifecycle.state === 'STARTING')
        this.lifecycle.transition('STOPPED');
      throw e;
    }
    if (this.lifecycle.state === 'STARTING') this.lifecycle.transition('RUNNING');
  }

  /** Ready = running, with at least one actor and none quarantined. */
  isReady(): boolean {
    return this.lifecycle.state === 'RUNNING' && this.actors.length > 0 && this.quarantined.size === 0;
  }

  /**
   * Accepting = running: the worker takes work on whichever actors can (not starting, draining or stopped).
   * Apart from readiness so that one quarantined GPU of eight, which makes the worker not ready, does not take
   * the seven others out of the jobs subgraph's catalog: it reads per resource class which actors take work.
   */
  isAccepting(): boolean {
    return this.lifecycle.state === 'RUNNING';
  }

  snapshot(): SupervisorSnapshot {
    return {
      state: this.lifecycle.state,
      ready: this.isReady(),
      accepting: this.isAccepting(),
      actors: this.actors.map((a) => a.info()),
      quarantined: [...this.quarantined.keys()],
    };
  }

  /** Actors call this when their state changes, so the manifest can be republished. */
  actorChanged(actorId: string): void {
    this.opts.onEvent?.({ type: 'actor-changed', actorId });
  }

  decideRestart(actorId: string, reason: string): RestartDecision {
    const intensity = this.intensities.get(actorId);
    if (!intensity) throw new Error(`unknown actor ${actorId}`);
    if (this.quarantined.has(actorId)) return 'quarantine';
    const exceeded = intensity.record();
    if (!exceeded) {
      this.opts.onEvent?.({ type: 'restart', actorId, reason, recent: intensity.recent });
      return 'restart';
    }
    const why = `more than ${intensity.maxRestarts} restarts in ${intensity.periodMs} ms (last: ${reason})`;
    this.quarantined.set(actorId, why);
    this.opts.onEvent?.({ type: 'quarantine', actorId, reason: why });
    return 'quarantine';
  }

  /** A quarantined actor's probe succeeded: it leases again, with a fresh restart intensity. */
  recovered(actorId: string): void {
    if (!this.quarantined.delete(actorId)) return;
    this.intensities.get(actorId)?.reset();
    this.opts.onEvent?.({ type: 'recovered', actorId });
  }

  /**
   * Drain once: stop leasing everywhere, give running attempts the grace period, then the actors stop
   * and release them. Bounded by grace + force so a hung actor cannot keep the process alive.
   */
  drain(): Promise<void> {
    this.drainPromise ??= this.runDrain();
    return this.drainPromise;
  }

  private async runDrain(): Promise<void> {
    if (this.lifecycle.state === 'STOPPED') return;
    this.lifecycle.transition('DRAINING');
    const pending = new Set(this.actors.map((a) => a.id));
    const boundMs = this.opts.drainGraceMs + this.opts.drainForceMs;
    const all = Promise.allSettled(
      this.actors.map((a) => a.drain(this.opts.drainGraceMs, boundMs).finally(() => pending.delete(a.id))),
    );
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), boundMs);
    });
    const outcome = await Promise.race([all, bound]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.opts.onEvent?.({ type: 'drain-timeout', actorIds: [...pending] });
      for (const a of this.actors) if (pending.has(a.id)) a.abandon();
    }
    this.lifecycle.transition('STOPPED');
  }
}
