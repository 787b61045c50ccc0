/**
 * The worker's lifecycle as an explicit state machine (after Temporal's worker: INITIALIZED → RUNNING →
 * DRAINING → STOPPED). Every change goes through `transition`, so an impossible step is an error, not a
 * silently odd state.
 */
export type WorkerState = 'STARTING' | 'RUNNING' | 'DRAINING' | 'STOPPED';

const ALLOWED: Record<WorkerState, readonly WorkerState[]> = {
  STARTING: ['RUNNING', 'DRAINING', 'STOPPED'], // a SIGTERM during boot drains; a failed boot stops
  RUNNING: ['DRAINING'],
  DRAINING: ['STOPPED'],
  STOPPED: [],
};

export class IllegalTransitionError extends Error {
  readonly code = 'ILLEGAL_TRANSITION';
  constructor(
    readonly from: WorkerState,
    readonly to: WorkerState,
  ) {
    super(`worker cannot go from ${from} to ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

export class WorkerLifecycle {
  private current: WorkerState = 'STARTING';
  private readonly listeners: Array<(to: WorkerState, from: WorkerState) => void> = [];

  get state(): WorkerState {
    return this.current;
  }

  canTransition(to: WorkerState): boolean {
    return ALLOWED[this.current].includes(to);
  }

  transition(to: WorkerState): void {
    if (!this.canTransition(to)) throw new IllegalTransitionError(this.current, to);
    const from = this.current;
    this.current = to;
    for (const l of this.listeners) l(to, from);
  }

  onChange(listener: (to: WorkerState, from: WorkerState) => void): void {
    this.listeners.push(listener);
  }
}
