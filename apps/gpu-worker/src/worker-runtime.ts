import { hostname } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  BULLMQ_PREFIX,
  NODE_QUEUES,
  resourceClassOf,
  PROTOCOL_VERSION,
  type Device,
  type ResourceClass,
  type TaskManifest,
} from '#libs/contracts';
import {
  createRedis,
  pingRedis,
  quitRedis,
  type RedisEvictionPolicyError,
  type RedisLogger,
  redisTarget,
  watchEvictionPolicy,
} from '#libs/redis';
import { ArtifactRepository, createObjectStore, objectStoreConfigFromEnv } from '#libs/storage';
import { CancelListener } from './actor/cancel-listener.js';
import { NodeActor, type ActorLogger } from './actor/node-actor.js';
import { ReportSink } from './actor/report-sink.js';
import { TenantGuard } from './actor/tenant-guard.js';
import { within } from './actor/retry.js';
import { detectDevices } from './devices/detect-devices.js';
import { ManifestPublisher } from './manifest/manifest-publisher.js';
import { defaultRunnerEntry } from './runner/runner-entry.js';
import { runnerEnvironment } from './runner/runner-environment.js';
import { planActors } from './supervisor/actor-plan.js';
import { Supervisor, type SupervisorEvent } from './supervisor/supervisor.js';
import { commandTaskIsolationProblem, type WorkerConfig } from './worker-config.js';
import type { WorkerMetrics } from './worker-metrics.js';

export type WorkerLogger = ActorLogger & RedisLogger & { child(bindings: object): WorkerLogger };

/**
 * Everything the gpu-worker runs, assembled from the config: device detection, one actor per GPU plus
 * CPU actors under the supervisor, the manifest in Redis, cancel notices. Plain classes, no Nest: the
 * WorkerModule only calls start() and stop().
 */
export class WorkerRuntime {
  private readonly connections: Redis[] = [];
  private command?: Redis;
  private starting?: Promise<void>;
  private readonly queues = new Map<ResourceClass, Queue>();
  private supervisor?: Supervisor;
  private manifest?: ManifestPublisher;
  private actors: NodeActor[] = [];
  private devices: Device[] = [];
  private tasks: TaskManifest[] = [];
  private readonly startedAt = new Date().toISOString();
  private stopping?: Promise<void>;

  constructor(
    private readonly config: WorkerConfig,
    private readonly logger: WorkerLogger,
    private readonly metrics: WorkerMetrics,
    /** How the worker stops when production finds Redis evicting keys (main.ts: exit 78). */
    private readonly refuse: (err: RedisEvictionPolicyError) => void,
  ) {}

  get workerId(): string {
    return this.config.WORKER_ID;
  }

  isReady(): boolean {
    return this.supervisor?.isReady() ?? false;
  }

  /** Why the worker is not ready (for the readiness probe), or undefined when it is. */
  notReadyReason(): string | undefined {
    if (!this.supervisor) return 'starting';
    const s = this.supervisor.snapshot();
    if (s.ready) return undefined;
    if (s.quarantined.length) return `quarantined actors: ${s.quarantined.join(', ')}`;
    if (s.actors.length === 0) return 'no actors (no GPU and WORKER_CPU_ACTORS=0)';
    return `worker is ${s.state}`;
  }

  /** The command connection answers PING (readiness). */
  async pingRedis(): Promise<void> {
    if (!this.command) throw new Error('starting');
    await pingRedis(this.command, 1_000);
  }

  start(): Promise<void> {
    this.starting ??= this.run();
    return this.starting;
  }

  private async run(): Promise<void> {
    const c = this.config;
    const log = this.logger;
    if (c.SWITCHYARD_IDENTITY_SECRET)
      log.warn(
        {},
        'SWITCHYARD_IDENTITY_SECRET is set but the worker never uses it: remove it from its environment (runners do not get it either way)',
      );
    const isolation = commandTaskIsolationProblem(c);
    if (isolation)
      log.warn(
        { variable: isolation.variable },
        `command tasks are not isolated (refused in production): ${isolation.variable} should be ${isolation.expected}`,
      );
    const detection = await detectDevices({ command: c.WORKER_NVIDIA_SMI });
    if (detection.reason) log.info({ reason: detection.reason }, 'no GPU found; running CPU actors only');
    const specs = planActors(c.WORKER_ID, detection.devices, c.WORKER_CPU_ACTORS);
    this.devices = specs.map((s) => s.device);
    log.info(
      { workerId: c.WORKER_ID, devices: detection.devices, actors: specs.map((s) => s.id) },
      'worker starting',
    );

    const command = this.redis('command', 'command');
    this.command = command;
    // reports, cancel markers and the manifest (a TTL key: volatile-* policies evict it) live in Redis
    watchEvictionPolicy(command, {
      name: 'worker',
      production: c.NODE_ENV === 'production',
      logger: log,
      refuse: this.refuse,
    });
    const reports = new ReportSink(command, {
      retryWindowMs: c.WORKER_REPORT_RETRY_MS,
      onRetry: (report, tries, err) => {
        this.metrics.reportRetried(report.type);
        log.warn(
          {
            type: report.type,
            jobId: report.jobId,
            nodeId: report.nodeId,
            tries,
            err: (err as Error).message,
          },
          'report write failed; retrying',
        );
      },
    });
    const queueConnection = this.redis('queues', 'blocking');
    for (const cls of new Set(specs.map((s) => s.resourceClass))) {
      const queue = new Queue(NODE_QUEUES[cls], { connection: queueConnection, prefix: BULLMQ_PREFIX });
      queue.on('error', (err) =>
        log.error({ queue: NODE_QUEUES[cls], err: err.message }, 'bullmq queue error'),
      );
      this.queues.set(cls, queue);
    }
    const tenants = new TenantGuard(command, {
      killThreshold: c.WORKER_TENANT_KILL_THRESHOLD,
      windowMs: c.WORKER_TENANT_KILL_WINDOW_MS,
      throttleMs: c.WORKER_TENANT_THROTTLE_MS,
      logger: log,
      metrics: this.metrics,
    });
    // The runners' storage access goes through the actors: the credentials stay in this process.
    const artifacts = new ArtifactRepository(
      command,
      createObjectStore(objectStoreConfigFromEnv(c, c.NODE_ENV === 'production'), log),
      log,
    );
    const runnerEnv = runnerEnvironment(process.env);

    this.manifest = new ManifestPublisher(command, {
      workerId: c.WORKER_ID,
      heartbeatMs: c.WORKER_MANIFEST_HEARTBEAT_MS,
      ttlMs: c.WORKER_MANIFEST_TTL_MS,
      activityDelayMs: c.WORKER_MANIFEST_ACTIVITY_MS,
      logger: log,
      build: () => ({
        id: c.WORKER_ID,
        hostname: hostname(),
        protocolVersion: PROTOCOL_VERSION,
        devices: this.devices,
        actors: this.actors.map((a) => a.info()),
        tasks: this.tasks,
        ready: this.isReady(),
        accepting: this.supervisor?.isAccepting() ?? false,
        startedAt: this.startedAt,
      }),
    });
    const changed = () => this.manifest?.changed();

    this.supervisor = new Supervisor({
      specs,
      intensity: { maxRestarts: c.WORKER_RESTART_INTENSITY, periodMs: c.WORKER_RESTART_PERIOD_MS },
      drainGraceMs: c.compiled.drain.graceMs,
      drainForceMs: c.compiled.drain.actorsMs - c.compiled.drain.graceMs,
      onEvent: (e) => this.onSupervisorEvent(e),
      createActor: (spec, decideRestart) => {
        const actor = new NodeActor({
          spec,
          workerId: c.WORKER_ID,
          decideRestart,
          onRecovered: () => this.supervisor?.recovered(spec.id),
          onChange: changed,
          onActivity: () => this.manifest?.activity(),
          onRunnerReady: (tasks) => {
            if (this.tasks.length === 0) changed();
            // Advertise only what some actor here can lease: a CPU-only worker offers no GPU task, so the
            // planner refuses it (UNKNOWN_TASK) instead of queueing work that no actor will ever take.
            this.tasks = tasks.filter((t) =>
              specs.some((s) => s.resourceClass === resourceClassOf(t.resources)),
            );
          },
          redis: command,
          createWorkerConnection: () =>
            createRedis({ ...redisTarget(c), name: `worker:${spec.id}`, role: 'blocking', logger: log }),
          closeConnection: (r) => quitRedis(r, 2_000),
          queue: this.queues.get(spec.resourceClass)!,
          reports,
          startedLingerMs: c.WORKER_STARTED_REPORT_LINGER_MS,
          leaseSliceMs: c.WORKER_LEASE_SLICE_MS,
          artifacts,
          runner: {
            entry: c.WORKER_RUNNER_ENTRY ?? defaultRunnerEntry(),
            env: runnerEnv,
            settings: c.compiled.runner,
            maxOldSpaceMb: c.RUNNER_MAX_OLD_SPACE_MB,
            bootTimeoutMs: c.WORKER_RUNNER_BOOT_TIMEOUT_MS,
            killGraceMs: c.WORKER_KILL_GRACE_MS,
            logger: log,
          },
          workRoot: c.WORKER_WORK_DIR ?? join(c.SWITCHYARD_DATA_DIR, 'worker'),
          heartbeatTimeoutMs: c.WORKER_HEARTBEAT_TIMEOUT_MS,
          cancelGraceMs: c.WORKER_CANCEL_GRACE_MS,
          redisRetryWindowMs: c.WORKER_REPORT_RETRY_MS,
          restartBackoff: { baseMs: c.WORKER_RESTART_BACKOFF_MS, maxMs: c.WORKER_RESTART_BACKOFF_MAX_MS },
          quarantineCooldownMs: c.ACTOR_QUARANTINE_COOLDOWN_MS,
          tenants,
          bullmq: {
            lockDurationMs: c.WORKER_LOCK_DURATION_MS,
            stalledIntervalMs: c.WORKER_STALLED_INTERVAL_MS,
            closeTimeoutMs: c.WORKER_CLOSE_TIMEOUT_MS,
          },
          watchdog: { intervalMs: c.WORKER_WATCHDOG_INTERVAL_MS, stallMs: c.WORKER_WATCHDOG_STALL_MS },
          logger: log,
          metrics: this.metrics,
        });
        this.actors.push(actor);
        return actor;
      },
    });

    const subscriber = this.redis('cancel', 'blocking');
    await new CancelListener(
      subscriber,
      (notice) => this.actors.forEach((a) => a.cancel(notice)),
      log,
      () =>
        this.actors.forEach((a) =>
          a
            .recheckCancelled()
            .catch((e: unknown) =>
              log.error(
                { actor: a.id, err: (e as Error).message },
                'reading the cancelled markers after a reconnect failed',
              ),
            ),
        ),
    ).start();
    await this.supervisor.start();
    await this.manifest.start();
    log.info(
      {
        workerId: c.WORKER_ID,
        ready: this.isReady(),
        tasks: this.tasks.map((t) => `${t.name}@${t.version}`),
      },
      'worker running',
    );
  }

  /**
   * Drain (grace, then release), deregister, close every connection — all within WORKER_DRAIN_BUDGET_MS,
   * Redis reachable or not: each step gets what is left of the budget, and what does not fit is abandoned
   * and logged. Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { budgetMs } = this.config.compiled.drain;
      const deadline = Date.now() + budgetMs;
      const left = (reserveMs = 0) => Math.max(0, deadline - Date.now() - reserveMs);
      const abandoned: string[] = [];
      const bounded = async (what: string, p: Promise<unknown>, ms: number) => {
        const r = await within(
          p.catch((e: unknown) => this.logger.error({ err: (e as Error).message }, `could not ${what}`)),
          ms,
        );
        if (r === 'timeout') abandoned.push(what);
      };
      this.logger.info({ workerId: this.workerId, budgetMs }, 'worker draining');
      // A stop during boot waits (bounded) for the actors to exist, so it can drain them.
      if (this.starting)
        await bounded('finish starting', this.starting, Math.min(15_000, left(budgetMs / 2)));
      // The supervisor bounds itself (grace + force, within the budget) and kills what overran it.
      await this.supervisor?.drain();
      if (this.manifest)
        await bounded('deregister the manifest (it expires by its TTL)', this.manifest.stop(), left(1_000));
      await bounded(
        'close the queues',
        Promise.all([...this.queues.values()].map((q) => q.close())),
        left(1_000),
      );
      // quitRedis falls back to disconnect() at its timeout: nothing is left open after this.
      await Promise.all(this.connections.map((r) => quitRedis(r, Math.max(100, left()))));
      if (abandoned.length)
        this.logger.warn(
          { workerId: this.workerId, abandoned, budgetMs },
          `drain budget: abandoned ${abandoned.join('; ')} (Redis unreachable?)`,
        );
      this.logger.info({ workerId: this.workerId }, 'worker stopped');
    })();
    return this.stopping;
  }

  private redis(name: string, role: 'command' | 'blocking'): Redis {
    const r = createRedis({ ...redisTarget(this.config), name: `worker:${name}`, role, logger: this.logger });
    this.connections.push(r);
    return r;
  }

  private onSupervisorEvent(e: SupervisorEvent): void {
    switch (e.type) {
      case 'state':
        this.logger.info({ state: e.state }, 'worker state');
        break;
      case 'quarantine': {
        const s = this.supervisor?.snapshot();
        const left = s ? s.actors.length - s.quarantined.length : 0;
        this.logger.error(
          { actor: e.actorId, reason: e.reason, actorsLeft: left },
          left > 0
            ? 'actor quarantined; worker not ready, serving on with its other actors'
            : 'actor quarantined; worker not ready, every actor of it quarantined',
        );
        break;
      }
      case 'recovered':
        this.logger.warn({ actor: e.actorId }, 'actor back from quarantine');
        break;
      case 'restart':
        this.logger.warn(
          { actor: e.actorId, reason: e.reason, recentRestarts: e.recent },
          'runner restart allowed',
        );
        break;
      case 'drain-timeout':
        this.logger.error({ actors: e.actorIds }, 'drain did not finish in time; stopping anyway');
        break;
      case 'actor-changed':
        break;
    }
    this.manifest?.changed();
  }
}
