import { ConfigError } from '#libs/config';
import { commandTaskIsolationProblem, loadWorkerConfig } from './worker-config.js';

const base = { REDIS_URL: 'redis://127.0.0.1:6379' };

describe('compiled worker options: the drain budget', () => {
  it.each([
    // [env, grace, actors' share]
    [{}, 25_000 - 2_000 - 8_000 - 3_000, 23_000],
    [
      {
        WORKER_DRAIN_BUDGET_MS: '8000',
        WORKER_DRAIN_GRACE_MS: '1000',
        WORKER_CANCEL_GRACE_MS: '1500',
        WORKER_KILL_GRACE_MS: '500',
      },
      1_000,
      6_000,
    ],
    [
      { WORKER_DRAIN_BUDGET_MS: '60000', WORKER_CLOSE_TIMEOUT_MS: '1000' },
      60_000 - 2_000 - 8_000 - 1_000,
      58_000,
    ],
  ])('derives the grace from the budget (%j)', (env, graceMs, actorsMs) => {
    const { drain } = loadWorkerConfig({ ...base, ...env }).compiled;
    expect(drain).toMatchObject({ graceMs, actorsMs });
    expect(drain.graceMs + drain.stopAttemptMs + drain.closeMs).toBeLessThanOrEqual(drain.actorsMs);
  });

  it.each([
    [{ WORKER_DRAIN_GRACE_MS: '30000' }, /WORKER_DRAIN_GRACE_MS: at most 12000 ms/],
    [{ WORKER_DRAIN_BUDGET_MS: '5000' }, /WORKER_DRAIN_BUDGET_MS: more than/],
    [{ WORKER_DRAIN_BUDGET_MS: '0' }, /WORKER_DRAIN_BUDGET_MS: expected a positive integer/],
  ])('refuses settings that cannot fit (%j)', (env, message) => {
    expect(() => loadWorkerConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadWorkerConfig({ ...base, ...env })).toThrow(message);
  });
});

describe('compiled worker options: the runner settings', () => {
  it('hands the runner what it needs, parsed once here', () => {
    const { runner } = loadWorkerConfig({
      ...base,
      LOG_LEVEL: 'debug',
      WORKER_HEARTBEAT_INTERVAL_MS: '250',
      SWITCHYARD_TEST_TASKS: '1',
      WORKER_COMMAND_TASKS_FILE: '/etc/switchyard/tasks.json',
      COMMAND_TASK_USER: 'svc',
      COMMAND_TASK_UID_BASE: '0',
    }).compiled;
    expect(runner).toEqual({
      logLevel: 'debug',
      heartbeatIntervalMs: 250,
      testTasks: true,
      commandTasksFile: '/etc/switchyard/tasks.json',
      commandTaskUser: { user: 'svc', uidBase: 0 },
    });
  });
});

describe('WORKER_LEASE_SLICE_MS', () => {
  it('defaults to 200 ms and takes a positive integer', () => {
    expect(loadWorkerConfig(base).WORKER_LEASE_SLICE_MS).toBe(200);
    expect(loadWorkerConfig({ ...base, WORKER_LEASE_SLICE_MS: '50' }).WORKER_LEASE_SLICE_MS).toBe(50);
  });

  it.each(['0', '-5', '1.5', 'soon'])('refuses %s with a clear message', (value) => {
    expect(() => loadWorkerConfig({ ...base, WORKER_LEASE_SLICE_MS: value })).toThrow(
      /WORKER_LEASE_SLICE_MS: expected (a positive integer|a number|an integer)/,
    );
  });
});

describe('command task isolation', () => {
  const commands = { WORKER_COMMAND_TASKS_FILE: '/etc/switchyard/commands.json' };

  it('needs a root worker and a uid per actor; none declared, nothing to isolate', () => {
    expect(commandTaskIsolationProblem({ COMMAND_TASK_UID_BASE: 61_000 }, 1000)).toBeNull();
    expect(commandTaskIsolationProblem({ ...commands, COMMAND_TASK_UID_BASE: 61_000 }, 0)).toBeNull();
    expect(commandTaskIsolationProblem({ ...commands, COMMAND_TASK_UID_BASE: 61_000 }, 1000)).toMatchObject({
      variable: 'WORKER_COMMAND_TASKS_FILE',
      expected: expect.stringMatching(/as uid 1000 commands would run as the worker itself/),
    });
    expect(commandTaskIsolationProblem({ ...commands, COMMAND_TASK_UID_BASE: 0 }, 0)).toMatchObject({
      variable: 'COMMAND_TASK_UID_BASE',
    });
  });

  it('is refused at start in production, allowed (with a warning at start) in development', () => {
    const shared = { ...base, ...commands, COMMAND_TASK_UID_BASE: '0' };
    // as this process's own uid: not root, or root with one uid for every actor: refused either way
    expect(() => loadWorkerConfig({ ...shared, NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => loadWorkerConfig({ ...shared, NODE_ENV: 'production' })).toThrow(
      process.getuid?.() === 0
        ? /COMMAND_TASK_UID_BASE: a first uid above 0/
        : /WORKER_COMMAND_TASKS_FILE: set only/,
    );
    expect(() => loadWorkerConfig({ ...shared, NODE_ENV: 'development' })).not.toThrow();
  });
});
