import type { Redis } from 'ioredis';
import {
  assertIdentitySecret,
  createSubgraphAuth,
  type SubgraphAuth,
  RATE_LIMIT_SCRIPTS,
  type SubgraphAuthenticator,
} from '#libs/auth';
import {
  createRedis,
  LEASE_SCRIPTS,
  pingRedis,
  quitRedis,
  type RedisEvictionPolicyError,
  type RedisLogger,
  redisTarget,
  watchEvictionPolicy,
} from '#libs/redis';
import {
  ArtifactRepository,
  ArtifactSweeper,
  createObjectStore,
  objectStoreConfigFromEnv,
  type ObjectStore,
  type StorageLogger,
  type StorageMetrics,
  STORAGE_SCRIPTS,
} from '#libs/storage';
import type { ArtifactsSubgraphConfig } from './artifacts-config.js';
import { ARTIFACT_READ_SCRIPTS, JobArtifactsReader } from './reads/job-artifacts-reader.js';
import { SweepLoop, type SweepMetrics } from './sweeps/sweep-loop.js';
import { ArtifactService, type UploadMetrics } from './uploads/artifact-service.js';

export type ArtifactsMetrics = StorageMetrics & UploadMetrics & SweepMetrics;

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

/**
 * The subgraph's object graph, built from config with no I/O; `start()` connects (bootstrap, preflight,
 * sweeps) and `stop()` closes everything. Nest only wires this in.
 */
export class ArtifactsRuntime {
  readonly redis: Redis;
  readonly store: ObjectStore;
  readonly artifacts: ArtifactRepository;
  readonly service: ArtifactService;
  readonly sweeps: SweepLoop;
  readonly identitySecret: string;
  /** Who may call the GraphQL endpoint (SUBGRAPH_ACCEPT); API keys are read through `redis`. */
  readonly authenticator: SubgraphAuthenticator;
  private readonly auth: SubgraphAuth;
  readonly production: boolean;

  /** `refuse`: how the app stops when production finds Redis evicting keys (main.ts: exit 78). */
  constructor(
    config: ArtifactsSubgraphConfig,
    private readonly logger: StorageLogger & RedisLogger,
    metrics: ArtifactsMetrics,
    refuse: (err: RedisEvictionPolicyError) => void,
  ) {
    this.production = config.NODE_ENV === 'production';
    this.identitySecret = assertIdentitySecret(
      config.SWITCHYARD_IDENTITY_SECRET,
      this.production,
      config.BIND_HOST,
    );
    // Every Lua script this process runs is present and its includes resolve (files only, no I/O on Redis).
    for (const scripts of [STORAGE_SCRIPTS, LEASE_SCRIPTS, RATE_LIMIT_SCRIPTS, ARTIFACT_READ_SCRIPTS])
      scripts.check();
    // Connects in start(), not here: constructing the object graph does no I/O.
    this.redis = createRedis({
      ...redisTarget(config),
      name: 'artifacts',
      role: 'command',
      logger,
      extra: { lazyConnect: true },
    });
    // artifact records and quota usage live in Redis: checked at each connection (start() connects)
    watchEvictionPolicy(this.redis, { name: 'artifacts', production: this.production, logger, refuse });
    this.auth = createSubgraphAuth(config.auth, this.identitySecret, {
      redis: this.redis,
      redisTarget: redisTarget(config),
      subscriberName: 'artifacts-key-revocations',
      logger,
    });
    this.authenticator = this.auth.authenticator;
    this.store = createObjectStore(objectStoreConfigFromEnv(config, this.production), logger, metrics);
    this.artifacts = new ArtifactRepository(this.redis, this.store, logger);
    this.service = new ArtifactService(
      this.artifacts,
      this.store,
      {
        maxBytes: config.ARTIFACT_MAX_UPLOAD_BYTES,
        allowedContentTypes: config.ARTIFACT_ALLOWED_CONTENT_TYPES,
        uploadUrlTtlSeconds: config.ARTIFACT_UPLOAD_URL_TTL_SECONDS,
        downloadUrlTtlSeconds: config.ARTIFACT_DOWNLOAD_URL_TTL_SECONDS,
        tenantMaxStoredBytes: config.TENANT_MAX_STORED_BYTES,
        tenantMaxArtifacts: config.TENANT_MAX_ARTIFACTS,
        jobArtifactsListMax: config.JOB_ARTIFACTS_LIST_MAX,
        jobArtifactsPageMax: config.JOB_ARTIFACTS_PAGE_MAX,
      },
      metrics,
      logger,
      new JobArtifactsReader(this.redis),
    );
    const sweeper = new ArtifactSweeper(
      this.redis,
      this.artifacts,
      {
        orphanGraceMs: config.ARTIFACT_ORPHAN_GRACE_SECONDS * 1000,
        retentionMs: config.ARTIFACT_RETENTION_DAYS * 86_400_000,
        batchSize: config.ARTIFACT_SWEEP_BATCH,
      },
      logger,
    );
    const intervalMs = config.ARTIFACT_SWEEP_INTERVAL_SECONDS * 1000;
    this.sweeps = new SweepLoop(this.redis, sweeper, { intervalMs }, metrics, logger);
  }

  /** Redis, bucket bootstrap + preflight (a failure is logged and leaves readiness false, never crashes), then sweeps. */
  async start(): Promise<void> {
    // A Redis that is down now is not fatal: the client keeps reconnecting and readiness says so.
    this.redis
      .connect()
      .catch((e: unknown) =>
        this.logger.error(
          { err: e instanceof Error ? e.message : String(e) },
          'redis not reachable at start; reconnecting',
        ),
      );
    const state = await this.store.start();
    if (!state.ready)
      this.logger.error(
        { reason: state.reason },
        'starting without object storage; not ready until it answers',
      );
    void this.auth.start();
    this.sweeps.start();
  }

  async stop(): Promise<void> {
    await this.sweeps.stop();
    await this.auth.close();
    await quitRedis(this.redis);
  }

  readiness(): ReadinessCheck[] {
    return [
      { name: 'redis', check: () => pingRedis(this.redis) },
      { name: 'object-storage', check: () => this.store.checkReady() },
    ];
  }
}
