import type { ActorInfo } from '#libs/contracts';
import { planActors, type ActorSpec } from './actor-plan.js';
import { RestartIntensity, restartBackoffMs } from './restart-intensity.js';
import { Supervisor, type RestartPolicy, type SupervisedActor, type SupervisorEvent } from './supervisor.js';
import { IllegalTransitionError, WorkerLifecycle } from './worker-lifecycle.js';

/** A scripted actor: `drain` takes `attemptMs` unless the grace is shorter, then stops the attempt. */
class ScriptedActor implements SupervisedActor {
  state: ActorInfo['state'] = 'STOPPED';
  drainedWith?: number;
  boundWith?: number;
  released = false;
  abandoned = false;
  constructor(
    readonly spec: ActorSpec,
    readonly decide: RestartPolicy,
    private readonly attemptMs = 0,
    private readonly hangOnDrain = false,
  ) {}
  get id() {
    return this.spec.id;
  }
  async start() {
    this.state = 'IDLE';
  }
  async drain(graceMs: number, boundMs: number) {
    this.drainedWith = graceMs;
    this.boundWith = boundMs;
    if (this.hangOnDrain) return new Promise<void>(() => {});
    await new Promise((r) => setTimeout(r, Math.min(this.attemptMs, graceMs)));
    this.released = this.attemptMs > graceMs;
    this.state = 'STOPPED';
  }
  abandon() {
    this.abandoned = true;
  }
  info(): ActorInfo {
    return {
      id: this.id,
      device: this.spec.label,
      resourceClass: this.spec.resourceClass,
      state: this.state,
      restarts: 0,
    };
  }
}

const gpu = (index: number) => ({ index, kind: 'GPU' as const, name: 'NVIDIA H200', uuid: `GPU-${index}` });

function build(
  opts: { gpus?: number; cpu?: number; attemptMs?: number; hang?: boolean; now?: () => number } = {},
) {
  const events: SupervisorEvent[] = [];
  const actors: ScriptedActor[] = [];
  const sup = new Supervisor({
    specs: planActors(
      'w1',
      Array.from({ length: opts.gpus ?? 0 }, (_, i) => gpu(i)),
      opts.cpu ?? 1,
    ),
    createActor: (spec, decide) => {
      const a = new ScriptedActor(spec, decide, opts.attemptMs, opts.hang);
      actors.push(a);
      return a;
    },
    intensity: { maxRestarts: 2, periodMs: 1000 },
    drainGraceMs: 100,
    drainForceMs: 100,
    now: opts.now,
    onEvent: (e) => events.push(e),
  });
  return { sup, actors, events };
}

describe('WorkerLifecycle', () => {
  it('goes STARTING → RUNNING → DRAINING → STOPPED and refuses anything else', () => {
    const l = new WorkerLifecycle();
    const seen: string[] = [];
    l.onChange((to, from) => seen.push(`${from}>${to}`));
    expect(() => l.transition('STARTING')).toThrow(IllegalTransitionError);
    l.transition('RUNNING');
    expect(() => l.transition('STOPPED')).toThrow(/RUNNING to STOPPED/);
    l.transition('DRAINING');
    expect(() => l.transition('RUNNING')).toThrow(IllegalTransitionError);
    l.transition('STOPPED');
    expect(() => l.transition('DRAINING')).toThrow(IllegalTransitionError);
    expect(seen).toEqual(['STARTING>RUNNING', 'RUNNING>DRAINING', 'DRAINING>STOPPED']);
  });
});

describe('planActors', () => {
  it('makes one actor per GPU plus the CPU actors, GPUs pinned by UUID and CPUs hidden from CUDA', () => {
    const specs = planActors('w1', [gpu(0), { ...gpu(1), uuid: undefined }], 2);
    expect(specs.map((s) => [s.id, s.label, s.resourceClass, s.cudaVisibleDevices])).toEqual([
      ['w1/gpu0', 'GPU 0', 'gpu', 'GPU-0'],
      ['w1/gpu1', 'GPU 1', 'gpu', '1'],
      ['w1/cpu0', 'CPU 0', 'cpu', ''],
      ['w1/cpu1', 'CPU 1', 'cpu', ''],
    ]);
  });
  it('makes CPU actors only without GPUs', () => {
    expect(planActors('w', [], 1).map((s) => s.device.kind)).toEqual(['CPU']);
  });
});

describe('RestartIntensity', () => {
  it('allows maxRestarts within the period, then reports exceeded; old restarts age out', () => {
    let t = 0;
    const ri = new RestartIntensity(2, 1000, () => t);
    expect(ri.record()).toBe(false);
    t = 100;
    expect(ri.record()).toBe(false);
    t = 200;
    expect(ri.record()).toBe(true);
    t = 1500; // the first three are outside the window now
    expect(ri.record()).toBe(false);
    expect(ri.recent).toBe(1);
  });
  it('backs off exponentially with a cap and jitter', () => {
    // equal jitter: half of the capped exponential fixed, half random
    expect(restartBackoffMs(1, 100, 1000, () => 1)).toBe(100);
    expect(restartBackoffMs(3, 100, 1000, () => 1)).toBe(400);
    expect(restartBackoffMs(10, 100, 1000, () => 1)).toBe(1000);
    expect(restartBackoffMs(1, 100, 1000, () => 0)).toBe(50);
    expect(restartBackoffMs(3, 100, 1000, () => 0.5)).toBe(300);
  });
});

describe('Supervisor', () => {
  it('starts every actor and becomes ready', async () => {
    const { sup, actors, events } = build({ gpus: 2, cpu: 1 });
    expect(sup.state).toBe('STARTING');
    expect(sup.isReady()).toBe(false);
    await sup.start();
    expect(sup.state).toBe('RUNNING');
    expect(sup.isReady()).toBe(true);
    expect(sup.isAccepting()).toBe(true);
    expect(actors.map((a) => a.state)).toEqual(['IDLE', 'IDLE', 'IDLE']);
    expect(events).toContainEqual({ type: 'state', state: 'RUNNING' });
  });

  it('is never ready without actors', async () => {
    const { sup } = build({ cpu: 0 });
    await sup.start();
    expect(sup.isReady()).toBe(false);
  });

  it('restarts within the intensity, then quarantines the actor and turns not ready', async () => {
    let t = 0;
    const { sup, actors, events } = build({ cpu: 2, now: () => t });
    await sup.start();
    const [a, b] = actors;
    expect(a!.decide(a!.id, 'STUCK')).toBe('restart');
    t += 10;
    expect(a!.decide(a!.id, 'STUCK')).toBe('restart');
    expect(sup.isReady()).toBe(true);
    t += 10;
    expect(a!.decide(a!.id, 'STUCK')).toBe('quarantine');
    expect(sup.isReady()).toBe(false);
    expect(sup.isAccepting()).toBe(true); // b still takes work
    expect(sup.snapshot().quarantined).toEqual([a!.id]);
    expect(a!.decide(a!.id, 'again')).toBe('quarantine'); // stays quarantined
    expect(b!.decide(b!.id, 'CRASHED')).toBe('restart'); // intensity is per actor
    expect(events.filter((e) => e.type === 'quarantine')).toEqual([
      {
        type: 'quarantine',
        actorId: a!.id,
        reason: expect.stringMatching(/more than 2 restarts in 1000 ms \(last: STUCK\)/),
      },
    ]);
  });

  it('one bad GPU of eight: not ready (DESIGN), still accepting work on the others until it drains', async () => {
    const { sup, actors } = build({ gpus: 8, cpu: 0 });
    await sup.start();
    const quarantine = (a: ScriptedActor) => {
      for (let i = 0; i < 3; i++) a.decide(a.id, 'runner failed to boot');
    };
    quarantine(actors[3]!);
    expect(sup.snapshot()).toMatchObject({ ready: false, accepting: true, quarantined: ['w1/gpu3'] });
    for (const a of actors) if (a !== actors[3]) quarantine(a);
    expect(sup.snapshot().quarantined).toHaveLength(8);
    // still running: which actors take work is the manifest's, per actor (none here)
    expect(sup.snapshot()).toMatchObject({ ready: false, accepting: true });
    for (const a of actors) sup.recovered(a.id);
    expect(sup.snapshot()).toMatchObject({ ready: true, accepting: true });
    const drained = sup.drain();
    expect(sup.snapshot()).toMatchObject({ state: 'DRAINING', ready: false, accepting: false });
    await drained;
    expect(sup.snapshot()).toMatchObject({ state: 'STOPPED', ready: false, accepting: false });
  });

  it('takes an actor back after its probe succeeded, with a fresh restart intensity', async () => {
    let t = 0;
    const { sup, actors, events } = build({ cpu: 1, now: () => t });
    await sup.start();
    const [a] = actors;
    for (let i = 0; i < 3; i++) a!.decide(a!.id, 'boot failed');
    expect(sup.isReady()).toBe(false);
    t += 10;
    sup.recovered(a!.id);
    expect(sup.isReady()).toBe(true);
    expect(sup.snapshot().quarantined).toEqual([]);
    expect(events.filter((e) => e.type === 'recovered')).toEqual([{ type: 'recovered', actorId: a!.id }]);
    // the old restarts are forgotten: two more are allowed before the next quarantine
    expect(a!.decide(a!.id, 'boot failed')).toBe('restart');
    expect(a!.decide(a!.id, 'boot failed')).toBe('restart');
    expect(a!.decide(a!.id, 'boot failed')).toBe('quarantine');
  });

  it('drains: attempts within the grace finish, longer ones are released', async () => {
    const quick = build({ cpu: 1, attemptMs: 20 });
    await quick.sup.start();
    await quick.sup.drain();
    expect(quick.sup.state).toBe('STOPPED');
    expect(quick.actors[0]!.drainedWith).toBe(100);
    expect(quick.actors[0]!.released).toBe(false);

    const slow = build({ cpu: 1, attemptMs: 10_000 });
    await slow.sup.start();
    const t0 = Date.now();
    await slow.sup.drain();
    // released after the 100 ms grace, not after the 10 s attempt (5 s: headroom for a loaded machine)
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(slow.actors[0]!.released).toBe(true);
    expect(slow.sup.isReady()).toBe(false);
  });

  it('drains once, even when asked twice', async () => {
    const { sup, events } = build({ cpu: 1, attemptMs: 10 });
    await sup.start();
    await Promise.all([sup.drain(), sup.drain()]);
    expect(events.filter((e) => e.type === 'state' && e.state === 'DRAINING')).toHaveLength(1);
  });

  it('bounds a drain whose actor hangs, and names it', async () => {
    const { sup, events, actors } = build({ cpu: 1, hang: true });
    await sup.start();
    const t0 = Date.now();
    await sup.drain();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(sup.state).toBe('STOPPED');
    expect(events).toContainEqual({ type: 'drain-timeout', actorIds: ['w1/cpu0'] });
    // the hung actor is told to kill what it started; it was given the same bound
    expect(actors[0]).toMatchObject({ abandoned: true, boundWith: 200 });
  });

  it('drains when stopped during start', async () => {
    const { sup } = build({ cpu: 1 });
    await sup.drain();
    expect(sup.state).toBe('STOPPED');
  });
});
