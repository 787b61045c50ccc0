import { UnrecoverableError, type Job } from 'bullmq';
import type { NodeReport } from '#libs/contracts';
import { NO_WORKER_METRICS } from '../worker-metrics.js';
import type { AttemptExecution, AttemptOutcome } from './attempt-execution.js';
import { processAttempt, type AttemptPorts, type OfferingRunner } from './attempt-processor.js';
import type { RunnerLossBlame } from './runner-slot.js';

const payload = {
  jobId: 'j1',
  tenant: 'acme',
  nodeId: 'a',
  attempt: 1,
  maxAttempts: 3,
  task: 'test.sleep',
  taskVersion: '1.0.0',
  inputs: { ms: 1 },
  timeoutMs: 10_000,
  enqueuedAt: new Date().toISOString(),
};
const job = (data: object = payload) => ({ id: 'j1.a.1', data, timestamp: Date.now() }) as unknown as Job;
const runner: OfferingRunner = {
  tasks: [{ name: 'test.sleep', version: '1.0.0' } as OfferingRunner['tasks'][number]],
};

interface Fake {
  ports: AttemptPorts<OfferingRunner>;
  reports: NodeReport[];
  events: string[];
  lost: Array<[string, RunnerLossBlame]>;
  tenantKills: string[];
}

/** Ports in memory: reports collected, the run's outcome scripted. */
function fake(o: {
  superseded?: string;
  cancelled?: boolean;
  throttledUntil?: number;
  runner?: OfferingRunner;
  draining?: boolean;
  outcome?: AttemptOutcome;
}): Fake {
  const f: Omit<Fake, 'ports'> = { reports: [], events: [], lost: [], tenantKills: [] };
  const ports: AttemptPorts<OfferingRunner> = {
    actorId: 'w/cpu0',
    workerId: 'w',
    reports: { send: async (r) => (f.reports.push(r), '1-0') },
    preflight: async () => ({
      cancelled: o.cancelled ?? false,
      throttledUntil: o.throttledUntil,
      ...(o.superseded ? { superseded: o.superseded } : {}),
    }),
    tenants: {
      throttledError: (tenant) => ({
        code: 'TENANT_THROTTLED',
        message: `${tenant} throttled`,
        retryable: true,
      }),
      runnerKilled: async (tenant) => void f.tenantKills.push(tenant),
    },
    readyRunner: async () => o.runner,
    runnerLost: async (reason, blame) => void f.lost.push([reason, blame]),
    draining: () => o.draining ?? false,
    run: async (_r, _p, _rep, onExecution) => {
      onExecution({} as AttemptExecution);
      return o.outcome ?? { type: 'succeeded', outputs: {}, artifactIds: [], runnerLost: false };
    },
    onLeased: () => void f.events.push('leased'),
    onRunning: () => void f.events.push('running'),
    onExecution: () => void f.events.push('execution'),
    onFinished: () => void f.events.push('finished'),
    logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    metrics: NO_WORKER_METRICS,
  };
  return { ...f, ports };
}

/** A report in short; `+ran`: its end says the attempt ran (ranMs), which a refusal before the run never does. */
const summary = (r: NodeReport) => {
  const ran = 'ranMs' in r && r.ranMs !== undefined ? '+ran' : '';
  if (r.type === 'failed') return `failed:${r.error.code}${ran}`;
  return r.type === 'released' ? `released:${r.reason}${ran}` : `${r.type}${ran}`;
};

describe('processAttempt', () => {
  it.each<[string, Parameters<typeof fake>[0], string[]]>([
    [
      'a leased attempt that already ended is skipped without any report, before the cancelled marker',
      { superseded: 'the node is SUCCEEDED', cancelled: true, runner },
      [],
    ],
    ['a cancelled job is skipped', { cancelled: true, runner }, ['failed:CANCELLED']],
    [
      'a throttled tenant fails fast',
      { throttledUntil: Date.now() + 60_000, runner },
      ['failed:TENANT_THROTTLED'],
    ],
    ['no runner while draining: released', { draining: true }, ['released:worker draining']],
    ['no runner while quarantined: released', {}, ['released:actor quarantined']],
    ['an unknown task is UNSCHEDULABLE', { runner: { tasks: [] } }, ['failed:UNSCHEDULABLE']],
    ['a run that succeeds', { runner }, ['started', 'succeeded+ran']],
    [
      'a run that fails',
      {
        runner,
        outcome: {
          type: 'failed',
          error: { code: 'TASK_FAILED', message: 'x', retryable: true },
          runnerLost: false,
        },
      },
      ['started', 'failed:TASK_FAILED+ran'],
    ],
    [
      'a run handed back (draining): released, saying it ran',
      { runner, outcome: { type: 'released', reason: 'worker draining', runnerLost: false } },
      ['started', 'released:worker draining+ran'],
    ],
    [
      'a lost lock: no terminal report (the other worker reports)',
      {
        runner,
        outcome: {
          type: 'failed',
          error: { code: 'LOCK_LOST', message: 'x', retryable: true },
          runnerLost: true,
          killedBy: 'platform',
        },
      },
      ['started', 'log'],
    ],
  ])('%s', async (_name, o, expected) => {
    const f = fake(o);
    await processAttempt(job(), f.ports);
    expect(f.reports.map(summary)).toEqual(expected);
    expect(f.events[0]).toBe('leased');
    expect(f.events.at(-1)).toBe('finished');
  });

  it.each<[RunnerLossBlame | undefined, string[], RunnerLossBlame]>([
    ['attempt', ['acme'], 'attempt'],
    ['platform', [], 'platform'],
    [undefined, [], 'platform'],
  ])(
    'a runner lost by %s is restarted with that blame; only the attempt counts against the tenant',
    async (killedBy, kills, blame) => {
      const f = fake({
        runner,
        outcome: {
          type: 'failed',
          error: { code: 'TIMEOUT', message: 'over time', retryable: true },
          runnerLost: true,
          ...(killedBy ? { killedBy: killedBy as 'attempt' | 'platform' } : {}),
        },
      });
      await processAttempt(job(), f.ports);
      expect(f.tenantKills).toEqual(kills);
      expect(f.lost).toEqual([['TIMEOUT: over time', blame]]);
      expect(f.events).toEqual(['leased', 'running', 'execution', 'finished']);
    },
  );

  it.each<[string, AttemptOutcome]>([
    [
      'succeeded',
      { type: 'succeeded', outputs: {}, artifactIds: [], runnerLost: false, recycle: 'left 3 tensors' },
    ],
    [
      'failed',
      {
        type: 'failed',
        error: { code: 'TASK_FAILED', message: 'x', retryable: true },
        runnerLost: false,
        recycle: 'left 3 tensors',
      },
    ],
  ])(
    'an attempt (%s) that left memory in its runner has it replaced after its report, charged to nobody',
    async (_what, outcome) => {
      const f = fake({ runner, outcome });
      const ports = f.ports;
      let reportsWhenLost = -1;
      const lost = ports.runnerLost;
      ports.runnerLost = async (reason, blame) => ((reportsWhenLost = f.reports.length), lost(reason, blame));
      await processAttempt(job(), ports);
      expect(f.lost).toEqual([['recycled: left 3 tensors', 'platform']]);
      expect(reportsWhenLost).toBe(2); // started and its end went first
      expect(f.tenantKills).toEqual([]);
    },
  );

  it('refuses a malformed payload as unrecoverable, before leasing anything', async () => {
    const f = fake({ runner });
    await expect(processAttempt(job({ nope: 1 }), f.ports)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(f.events).toEqual([]);
    expect(f.reports).toEqual([]);
  });
});
