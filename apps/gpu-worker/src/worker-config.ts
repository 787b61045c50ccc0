import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import {
  ConfigError,
  type ConfigOf,
  flag,
  isProduction,
  loadConfig,
  nonNegativeInt,
  port,
  positiveInt,
  redisEnv,
  runtimeEnv,
} from '#libs/config';
import { storageEnv } from '#libs/storage';
import type { RunnerProcessOptions } from './runner/runner-process.js';

/** Every setting of the gpu-worker, parsed once from the environment. Durations are milliseconds. */
export const workerEnv = {
  ...runtimeEnv,
  ...redisEnv,
  ...storageEnv,
  WORKER_HEALTH_PORT: port(4003),
  /** Stable id of this worker in the registry; defaults to <hostname>-<pid>-<random>. */
  WORKER_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, 'expected letters, digits, . _ or -')
    .optional(),
  /** CPU actors besides one actor per GPU. */
  WORKER_CPU_ACTORS: nonNegativeInt(1),
  /** The nvidia-smi binary; absent or failing means CPU only. */
  WORKER_NVIDIA_SMI: z.string().default('nvidia-smi'),
  /** OTP restart intensity: more than this many runner restarts of one actor in the period quarantine it. */
  WORKER_RESTART_INTENSITY: nonNegativeInt(5),
  WORKER_RESTART_PERIOD_MS: positiveInt(60_000),
  WORKER_RESTART_BACKOFF_MS: positiveInt(500),
  WORKER_RESTART_BACKOFF_MAX_MS: positiveInt(30_000),
  /** A quarantined actor probes its runner (start, wait for ready) after this cool-down, and comes back. */
  ACTOR_QUARANTINE_COOLDOWN_MS: positiveInt(60_000),
  /** Runner kills caused by one tenant's attempts within the window that throttle it (0: never). */
  WORKER_TENANT_KILL_THRESHOLD: nonNegativeInt(5),
  WORKER_TENANT_KILL_WINDOW_MS: positiveInt(600_000),
  /** How long a throttled tenant's attempts fail fast with TENANT_THROTTLED. */
  WORKER_TENANT_THROTTLE_MS: positiveInt(300_000),
  /** V8 heap limit of each task runner (--max-old-space-size), so one attempt cannot take the machine. */
  RUNNER_MAX_OLD_SPACE_MB: positiveInt(2048),
  /** Runner heartbeat period, and the silence after which a runner is stuck. */
  WORKER_HEARTBEAT_INTERVAL_MS: positiveInt(1_000),
  WORKER_HEARTBEAT_TIMEOUT_MS: positiveInt(10_000),
  /** SIGTERM → this → SIGKILL of a runner's process group. */
  WORKER_KILL_GRACE_MS: positiveInt(3_000),
  /** How long a cancelled or released task may take to honour ctx.signal before it is killed. */
  WORKER_CANCEL_GRACE_MS: positiveInt(5_000),
  WORKER_RUNNER_BOOT_TIMEOUT_MS: positiveInt(60_000),
  /** Built runner entry; defaults to runner/runner-main.js beside this file. */
  WORKER_RUNNER_ENTRY: z.string().optional(),
  /**
   * SIGTERM → exit within this, whatever is unreachable (Kubernetes and compose give 30 s): running
   * attempts, BullMQ, deregistration and connections all share it; what does not fit is abandoned and logged.
   */
  WORKER_DRAIN_BUDGET_MS: positiveInt(25_000),
  /**
   * On SIGTERM, running attempts get this long before they are stopped and released. Default: what the
   * budget leaves after stopping an attempt (cancel + kill grace) and the teardown reserve.
   */
  WORKER_DRAIN_GRACE_MS: z.coerce
    .number({ message: 'expected a number' })
    .int('expected an integer')
    .positive('expected a positive integer')
    .optional(),
  WORKER_LOCK_DURATION_MS: positiveInt(30_000),
  WORKER_STALLED_INTERVAL_MS: positiveInt(30_000),
  WORKER_CLOSE_TIMEOUT_MS: positiveInt(10_000),
  /** A report write (or the cancelled check) is retried this long before the attempt fails visibly. */
  WORKER_REPORT_RETRY_MS: positiveInt(60_000),
  /**
   * An attempt's `started` report waits up to this for the attempt's next report (its `at` stays the start),
   * so a short attempt's start and end share one write; 0 writes it at once.
   */
  WORKER_STARTED_REPORT_LINGER_MS: nonNegativeInt(20),
  /**
   * An actor starts the attempts of a lease (one BullMQ job carrying several) only within this time from when it
   * took the lease; then it hands the unstarted rest back to the tail of the queue, so other tenants' work
   * waits behind at most one slice per lease ahead of it (decision 0007).
   */
  WORKER_LEASE_SLICE_MS: positiveInt(200),
  WORKER_MANIFEST_HEARTBEAT_MS: positiveInt(5_000),
  WORKER_MANIFEST_TTL_MS: positiveInt(15_000),
  /** An actor's BUSY/IDLE and current attempt reach the manifest within this (other changes at once). */
  WORKER_MANIFEST_ACTIVITY_MS: positiveInt(1_000),
  WORKER_WATCHDOG_INTERVAL_MS: positiveInt(5_000),
  WORKER_WATCHDOG_STALL_MS: positiveInt(30_000),
  /** Scratch dirs of attempts live under this (default <SWITCHYARD_DATA_DIR>/worker). */
  WORKER_WORK_DIR: z.string().optional(),
  SWITCHYARD_TEST_TASKS: flag(false),
  WORKER_COMMAND_TASKS_FILE: z.string().optional(),
  /** When the worker runs as root, command tasks run unprivileged: this user's group (and uid if the base is 0). */
  COMMAND_TASK_USER: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*\$?$|^\d+$/, 'expected a user name or a numeric uid')
    .refine((u) => u !== 'root' && u !== '0', 'command tasks may not run as root')
    .default('nobody'),
  /** Actor n's command tasks run as uid BASE + n (own uid per actor); 0: all as COMMAND_TASK_USER. */
  COMMAND_TASK_UID_BASE: nonNegativeInt(61_000),
};

/** The parsed environment, WORKER_ID resolved. */
export type WorkerSettings = ConfigOf<typeof workerEnv> & { WORKER_ID: string };
export type WorkerConfig = WorkerSettings & { compiled: CompiledWorkerOptions };

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const c = loadConfig(workerEnv, env);
  const withId: WorkerSettings = {
    ...c,
    WORKER_ID:
      c.WORKER_ID ??
      `${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}-${process.pid}-${randomBytes(3).toString('hex')}`,
  };
  return { ...withId, compiled: compileWorkerOptions(withId) };
}

/** Kept from the budget for deregistration and closing connections after the actors have drained. */
export const DRAIN_TEARDOWN_RESERVE_MS = 2_000;
/** At most this of the drain is kept for BullMQ to close after the attempt stopped (its report written). */
export const DRAIN_CLOSE_RESERVE_MS = 3_000;

/**
 * Settings that only make sense together, combined once (the "compiled options"): everything here is in
 * milliseconds and already checked against the other fields it depends on.
 */
export interface CompiledWorkerOptions {
  drain: {
    /** The whole SIGTERM → exit budget. */
    budgetMs: number;
    /** Running attempts may finish within this. */
    graceMs: number;
    /** After the grace: the task's chance to honour its signal, then the runner's kill. */
    stopAttemptMs: number;
    /** After the attempt stopped: its last report and BullMQ's close. */
    closeMs: number;
    /** The actors' share of the budget (grace + stopping + closing BullMQ); the rest is teardown. */
    actorsMs: number;
  };
  /** What every runner is given as its argument (the actor adds its id and slot). */
  runner: RunnerProcessOptions['settings'];
}

/**
 * Why command tasks would not be isolated from the worker and from each other here, or null when they are (or
 * none are declared). Isolation takes a worker running as root (it runs each command as an unprivileged uid of
 * its own) and a uid per actor (COMMAND_TASK_UID_BASE > 0: what one attempt left running can be ended before
 * the next). Otherwise a command runs as the worker itself, and could read its Redis and S3 credentials
 * (/proc/<worker>/environ), or shares its uid with other actors' attempts.
 */
export function commandTaskIsolationProblem(
  c: Pick<WorkerSettings, 'WORKER_COMMAND_TASKS_FILE' | 'COMMAND_TASK_UID_BASE'>,
  uid: number | undefined = process.getuid?.(),
): { variable: string; expected: string } | null {
  if (!c.WORKER_COMMAND_TASKS_FILE) return null;
  if (uid !== 0)
    return {
      variable: 'WORKER_COMMAND_TASKS_FILE',
      expected: `set only on a worker running as root, which runs each command as its own unprivileged uid; as uid ${uid} commands would run as the worker itself and could read its Redis and S3 credentials`,
    };
  if (c.COMMAND_TASK_UID_BASE === 0)
    return {
      variable: 'COMMAND_TASK_UID_BASE',
      expected:
        "a first uid above 0 with command tasks: 0 runs every actor's commands as one user, so attempts running at once could read each other's files",
    };
  return null;
}

export function compileWorkerOptions(c: WorkerSettings): CompiledWorkerOptions {
  const isolation = commandTaskIsolationProblem(c);
  // a development machine may run its own commands as itself; production never runs tenants' work that way
  if (isolation && isProduction(c)) throw new ConfigError([isolation]);
  const budgetMs = c.WORKER_DRAIN_BUDGET_MS;
  const stopAttemptMs = c.WORKER_CANCEL_GRACE_MS + c.WORKER_KILL_GRACE_MS;
  const closeMs = Math.min(c.WORKER_CLOSE_TIMEOUT_MS, DRAIN_CLOSE_RESERVE_MS);
  const actorsMs = budgetMs - DRAIN_TEARDOWN_RESERVE_MS;
  const room = actorsMs - stopAttemptMs - closeMs;
  if (room <= 0)
    throw new ConfigError([
      {
        variable: 'WORKER_DRAIN_BUDGET_MS',
        expected: `more than WORKER_CANCEL_GRACE_MS + WORKER_KILL_GRACE_MS + ${closeMs + DRAIN_TEARDOWN_RESERVE_MS} ms to close and tear down (${stopAttemptMs + closeMs + DRAIN_TEARDOWN_RESERVE_MS} ms); got ${budgetMs}`,
      },
    ]);
  const graceMs = c.WORKER_DRAIN_GRACE_MS ?? room;
  if (graceMs > room)
    throw new ConfigError([
      {
        variable: 'WORKER_DRAIN_GRACE_MS',
        expected: `at most ${room} ms: with WORKER_CANCEL_GRACE_MS + WORKER_KILL_GRACE_MS (${stopAttemptMs} ms) and ${closeMs + DRAIN_TEARDOWN_RESERVE_MS} ms to close and tear down it must fit in WORKER_DRAIN_BUDGET_MS (${budgetMs}); got ${graceMs}`,
      },
    ]);
  return {
    drain: { budgetMs, graceMs, stopAttemptMs, closeMs, actorsMs },
    runner: {
      logLevel: c.LOG_LEVEL,
      heartbeatIntervalMs: c.WORKER_HEARTBEAT_INTERVAL_MS,
      testTasks: c.SWITCHYARD_TEST_TASKS,
      ...(c.WORKER_COMMAND_TASKS_FILE ? { commandTasksFile: c.WORKER_COMMAND_TASKS_FILE } : {}),
      commandTaskUser: { user: c.COMMAND_TASK_USER, uidBase: c.COMMAND_TASK_UID_BASE },
    },
  };
}
