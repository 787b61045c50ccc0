import { ActorStateMachine, IllegalActorTransitionError, type ActorPhase } from './actor-state.js';

/** A machine walked to `state` through legal moves. */
function at(state: ActorPhase): ActorStateMachine {
  const paths: Record<ActorPhase, ActorPhase[]> = {
    STOPPED: [],
    RESTARTING: ['RESTARTING'],
    IDLE: ['RESTARTING', 'IDLE'],
    BUSY: ['RESTARTING', 'IDLE', 'BUSY'],
    QUARANTINED: ['RESTARTING', 'QUARANTINED'],
    DRAINING: ['RESTARTING', 'IDLE', 'DRAINING'],
  };
  const m = new ActorStateMachine('w/cpu0');
  for (const s of paths[state]) m.transition(s);
  return m;
}

describe('ActorStateMachine', () => {
  it.each<[ActorPhase, ActorPhase]>([
    ['STOPPED', 'RESTARTING'],
    ['STOPPED', 'DRAINING'],
    ['RESTARTING', 'IDLE'],
    ['RESTARTING', 'BUSY'],
    ['RESTARTING', 'QUARANTINED'],
    ['IDLE', 'BUSY'],
    ['IDLE', 'RESTARTING'],
    ['IDLE', 'QUARANTINED'],
    ['BUSY', 'IDLE'],
    ['BUSY', 'RESTARTING'],
    ['BUSY', 'QUARANTINED'],
    ['BUSY', 'DRAINING'],
    ['QUARANTINED', 'IDLE'], // the probe succeeded
    ['QUARANTINED', 'DRAINING'],
    ['DRAINING', 'STOPPED'],
  ])('allows %s → %s', (from, to) => {
    const m = at(from);
    expect(m.transition(to)).toBe(true);
    expect(m.state).toBe(to);
  });

  it.each<[ActorPhase, ActorPhase]>([
    ['QUARANTINED', 'BUSY'],
    ['QUARANTINED', 'RESTARTING'],
    ['QUARANTINED', 'STOPPED'],
    ['DRAINING', 'IDLE'],
    ['DRAINING', 'BUSY'],
    ['DRAINING', 'RESTARTING'],
    ['DRAINING', 'QUARANTINED'],
    ['STOPPED', 'IDLE'],
    ['STOPPED', 'BUSY'],
    ['IDLE', 'STOPPED'],
  ])('refuses %s → %s with a typed error, state unchanged', (from, to) => {
    const m = at(from);
    expect(m.canTransition(to)).toBe(false);
    expect(() => m.transition(to)).toThrow(IllegalActorTransitionError);
    expect(() => m.transition(to)).toThrow(`actor w/cpu0 cannot go from ${from} to ${to}`);
    expect(m.state).toBe(from);
  });

  it('treats staying put as a no-op, without a change event', () => {
    const changes: string[] = [];
    const m = new ActorStateMachine('a', (to, from) => changes.push(`${from}→${to}`));
    m.transition('RESTARTING');
    expect(m.transition('RESTARTING')).toBe(false);
    m.transition('QUARANTINED');
    expect(m.transition('QUARANTINED')).toBe(false);
    expect(changes).toEqual(['STOPPED→RESTARTING', 'RESTARTING→QUARANTINED']);
  });

  it.each<[ActorPhase, boolean, string]>([
    ['IDLE', false, 'IDLE'],
    ['IDLE', true, 'BUSY'],
    ['BUSY', true, 'BUSY'],
    ['QUARANTINED', false, 'QUARANTINED'],
  ])('a drain from %s (busy: %s) is published as %s', (from, busy, shown) => {
    const m = at(from);
    m.transition('DRAINING');
    expect(m.draining).toBe(true);
    expect(m.published(busy)).toBe(shown);
    m.transition('STOPPED');
    expect(m.published(busy)).toBe('STOPPED');
  });
});
