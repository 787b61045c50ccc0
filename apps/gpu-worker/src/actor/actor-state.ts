import type { ActorState } from '#libs/contracts';

/**
 * An actor's state as an explicit machine, like the worker's (supervisor/worker-lifecycle.ts): the states
 * the manifest publishes plus DRAINING. Every move goes through `transition`, so an impossible one is an
 * error the actor logs, never a silently odd state. Only the slot's probe takes an actor out of
 * QUARANTINED (to IDLE), and only a drain ends it.
 */
export type ActorPhase = ActorState | 'DRAINING';

const ALLOWED: Record<ActorPhase, readonly ActorPhase[]> = {
  STOPPED: ['RESTARTING', 'DRAINING'], // start boots the runner; a drain may come first
  RESTARTING: ['IDLE', 'BUSY', 'QUARANTINED', 'DRAINING'], // BUSY: the runner came back during an attempt
  IDLE: ['BUSY', 'RESTARTING', 'QUARANTINED', 'DRAINING'],
  BUSY: ['IDLE', 'RESTARTING', 'QUARANTINED', 'DRAINING'],
  QUARANTINED: ['IDLE', 'DRAINING'],
  DRAINING: ['STOPPED'],
};

export class IllegalActorTransitionError extends Error {
  readonly code = 'ILLEGAL_TRANSITION';
  constructor(
    readonly actorId: string,
    readonly from: ActorPhase,
    readonly to: ActorPhase,
  ) {
    super(`actor ${actorId} cannot go from ${from} to ${to}`);
    this.name = 'IllegalActorTransitionError';
  }
}

export class ActorStateMachine {
  private current: ActorPhase = 'STOPPED';
  /** What the manifest showed when the drain began (a quarantined actor stays shown as such). */
  private drainedFrom: ActorState = 'STOPPED';

  constructor(
    private readonly actorId: string,
    private readonly onChange: (to: ActorPhase, from: ActorPhase) => void = () => undefined,
  ) {}

  get state(): ActorPhase {
    return this.current;
  }

  get draining(): boolean {
    return this.current === 'DRAINING';
  }

  /** The published state: a draining actor shows what it was doing until it has stopped. */
  published(busy: boolean): ActorState {
    if (this.current !== 'DRAINING') return this.current;
    if (this.drainedFrom === 'QUARANTINED') return 'QUARANTINED';
    return busy ? 'BUSY' : 'IDLE';
  }

  canTransition(to: ActorPhase): boolean {
    return to === this.current || ALLOWED[this.current].includes(to);
  }

  /** Move to `to` (staying put is a no-op); returns whether the state changed. */
  transition(to: ActorPhase): boolean {
    if (to === this.current) return false;
    if (!ALLOWED[this.current].includes(to))
      throw new IllegalActorTransitionError(this.actorId, this.current, to);
    const from = this.current;
    if (to === 'DRAINING') this.drainedFrom = from as ActorState;
    this.current = to;
    this.onChange(to, from);
    return true;
  }
}
