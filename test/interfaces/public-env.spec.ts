// The environment variables the issues name are public: clients, compose files, k8s manifests and operators
// set them. This spec pins each name (in the app that reads it), the default an issue or README states, and
// that some doc names it. Renaming or dropping one must be a deliberate change that edits this list.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '#libs/testing';
import { tracingEnv } from '#libs/tracing';
import { loadConfig } from '#libs/config';
import {
  loadArtifactsSubgraphConfig,
  artifactsSubgraphEnv,
} from '../../apps/artifacts-subgraph/src/artifacts-config.js';
import { gatewayEnv, loadGatewayConfig } from '../../apps/gateway/src/gateway-config.js';
import { jobsSubgraphEnv, loadJobsSubgraphConfig } from '../../apps/jobs-subgraph/src/jobs-config.js';
import { loadWorkerConfig, workerEnv } from '../../apps/gpu-worker/src/worker-config.js';
import { launcherEnv } from '../../scripts/launcher/launcher-env.js';

const KIB = 1024;
const GIB = 1024 ** 3;

/** [variable, value parsed from an empty environment (undefined: optional, no default)] per reader. */
const PUBLIC: Record<
  string,
  { shape: Record<string, unknown>; defaults: () => Record<string, unknown>; vars: Array<[string, unknown]> }
> = {
  'all apps (issue 2)': {
    shape: { ...gatewayEnv, ...jobsSubgraphEnv, ...artifactsSubgraphEnv, ...workerEnv },
    defaults: () => ({
      ...loadGatewayConfig({}),
      ...loadJobsSubgraphConfig({}),
      ...loadArtifactsSubgraphConfig({}),
    }),
    vars: [
      ['REDIS_URL', 'redis://127.0.0.1:6379'],
      ['SWITCHYARD_DATA_DIR', './.data'],
      ['NODE_ENV', 'development'],
      ['BIND_HOST', '127.0.0.1'],
      ['SWITCHYARD_IDENTITY_SECRET', undefined],
      ['REDIS_SENTINELS', undefined],
      ['REDIS_SENTINEL_NAME', 'mymaster'],
      ['GATEWAY_PORT', 4000],
      ['JOBS_SUBGRAPH_PORT', 4001],
      ['ARTIFACTS_SUBGRAPH_PORT', 4002],
    ],
  },
  gateway: {
    shape: gatewayEnv,
    defaults: () => loadGatewayConfig({}),
    vars: [
      ['RATE_LIMIT_PER_MINUTE', 600],
      ['RATE_LIMIT_BURST', undefined], // compiled: at least 100 (one full submitJobs batch)
      ['RATE_LIMIT_LEASE_MS', 250],
      ['API_KEY_CACHE_TTL_MS', 750],
      ['API_KEY_CACHE_MAX_ENTRIES', 10_000],
      ['MAX_SUBSCRIPTIONS_PER_CONNECTION', 100],
      ['MAX_SUBSCRIPTIONS_PER_KEY', 1000],
      ['MAX_CONNECTIONS_PER_KEY', 1000],
      ['SUBSCRIBER_BUFFER', undefined], // compiled: 512
      ['SUBSCRIPTION_BUFFER', undefined], // deprecated name, still read (issue 14)
      ['DOCUMENT_CACHE_BYTES', 32 * 1024 * 1024],
      ['SUBSCRIPTION_FETCH_SHARING', true],
      ['WS_PING_MS', 12_000],
      ['PLAYGROUND', undefined], // compiled: on outside production
      ['TLS_CERT_FILE', undefined],
      ['TLS_KEY_FILE', undefined],
    ],
  },
  'jobs subgraph': {
    shape: jobsSubgraphEnv,
    defaults: () => loadJobsSubgraphConfig({}),
    vars: [
      ['LABELS_MAX_BYTES', 16 * KIB],
      ['LABELS_MAX_KEYS', 64],
      ['PLANNER_MAX_INPUT_BYTES', 256 * KIB],
      ['TENANT_MAX_ACTIVE_JOBS', 1000],
      ['TENANT_MAX_QUEUED_NODES', 10_000],
      ['JOBS_PAGE_MAX', 100],
      ['DISPATCH_WINDOW', 8],
      ['JOB_RETENTION_DAYS', 30],
      ['SUBSCRIBER_BUFFER', 512],
    ],
  },
  'subgraphs (issue 11)': {
    shape: { ...jobsSubgraphEnv, ...artifactsSubgraphEnv },
    defaults: () => loadJobsSubgraphConfig({}),
    vars: [
      ['SUBGRAPH_ACCEPT', ['gateway']],
      ['SUBGRAPH_JWKS_URL', undefined],
      ['SUBGRAPH_JWT_ISSUER', undefined],
      ['SUBGRAPH_JWT_AUDIENCE', undefined],
      ['SUBGRAPH_JWT_TENANT_CLAIM', 'tenant'],
      ['SUBGRAPH_JWT_SCOPES_CLAIM', 'scope'],
      ['API_KEY_CACHE_TTL_MS', 750],
      ['RATE_LIMIT_LEASE_MS', 250],
      // a direct caller's operation bounds, the gateway's names and defaults
      ['MAX_QUERY_DEPTH', 12],
      ['MAX_QUERY_COST', 25_000],
      ['QUERY_COST_DEFAULT_LIST_SIZE', 20],
    ],
  },
  'artifacts subgraph': {
    shape: artifactsSubgraphEnv,
    defaults: () => loadArtifactsSubgraphConfig({}),
    vars: [
      ['S3_ENDPOINT', 'http://127.0.0.1:9000'],
      ['S3_ACCESS_KEY', undefined],
      ['S3_SECRET_KEY', undefined],
      ['S3_BUCKET', 'switchyard'],
      ['TENANT_MAX_STORED_BYTES', 50 * GIB],
    ],
  },
  'gpu-worker': {
    shape: workerEnv,
    defaults: () => loadWorkerConfig({}),
    vars: [
      ['WORKER_HEALTH_PORT', 4003],
      ['SWITCHYARD_TEST_TASKS', false],
      ['WORKER_RESTART_INTENSITY', 5],
      ['WORKER_RESTART_PERIOD_MS', 60_000],
      ['ACTOR_QUARANTINE_COOLDOWN_MS', 60_000],
      ['RUNNER_MAX_OLD_SPACE_MB', 2048],
      ['WORKER_DRAIN_BUDGET_MS', 25_000],
      ['WORKER_MANIFEST_ACTIVITY_MS', 1000],
      ['WORKER_STARTED_REPORT_LINGER_MS', 20],
    ],
  },
  'npm start (launcher)': {
    shape: launcherEnv,
    defaults: () => loadConfig(launcherEnv, {}),
    vars: [
      ['REDIS_URL', undefined], // unset: the launcher starts redis-server
      ['S3_ENDPOINT', undefined], // unset: the launcher starts the local S3 server
      ['SWITCHYARD_DATA_DIR', './.data'],
      ['SWITCHYARD_RESTART_MAX', 5],
      ['SWITCHYARD_RESTART_WINDOW_MS', 60_000],
      ['SWITCHYARD_STOP_TIMEOUT_MS', 25_000],
      ['SWITCHYARD_LOGS', 'files'],
      ['SWITCHYARD_REDIS_PORT', 6379],
      ['SWITCHYARD_S3_PORT', 9000],
      ['SWITCHYARD_READY_TIMEOUT_MS', 120_000],
    ],
  },
  'tracing (issue 13)': {
    shape: tracingEnv,
    defaults: () => loadConfig(tracingEnv, {}),
    vars: [
      ['OTEL_EXPORTER_OTLP_ENDPOINT', undefined],
      ['OTEL_TRACES_SAMPLER', 'parentbased_traceidratio'],
    ],
  },
};

/** Every README and doc a user reads for settings. */
function docsText(): string {
  const files = [
    'README.md',
    ...readdirSync(join(REPO_ROOT, 'apps')).map((a) => `apps/${a}/README.md`),
    ...readdirSync(join(REPO_ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  return files.map((f) => readFileSync(join(REPO_ROOT, f), 'utf8')).join('\n');
}

describe('public environment variables (named in the issues)', () => {
  describe.each(Object.entries(PUBLIC))('%s', (_reader, { shape, defaults, vars }) => {
    it('reads each name, with its documented default', () => {
      const parsed = defaults();
      for (const [name, fallback] of vars) {
        expect({ name, read: name in shape }).toEqual({ name, read: true });
        expect({ name, default: parsed[name] }).toEqual({ name, default: fallback });
      }
    });
  });

  it('compiles the defaults the docs state where a variable has none of its own', () => {
    const gateway = loadGatewayConfig({});
    expect(gateway.rateLimitBurst).toBeGreaterThanOrEqual(100);
    expect(gateway.subscriberBuffer).toEqual({ capacity: 512 });
    expect(gateway.playground).toBe(true);
    expect(loadGatewayConfig({ SUBSCRIPTION_BUFFER: '32' }).subscriberBuffer.capacity).toBe(32);
    expect(loadJobsSubgraphConfig({ SUBGRAPH_ACCEPT: 'gateway,api-key' }).auth.accept).toEqual([
      'gateway',
      'api-key',
    ]);
  });

  it('names each of them in a README or docs/ page', () => {
    const text = docsText();
    const names = [...new Set(Object.values(PUBLIC).flatMap((r) => r.vars.map(([name]) => name)))];
    expect(names.filter((name) => !new RegExp(`\\b${name}\\b`).test(text))).toEqual([]);
  });
});
