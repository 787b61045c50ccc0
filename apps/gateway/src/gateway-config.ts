import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';
import {
  commaList,
  ConfigError,
  flag,
  isProduction,
  loadConfig,
  nonNegativeInt,
  portsEnv,
  positiveInt,
  redisEnv,
  runtimeEnv,
  s3Env,
  tlsEnv,
  url,
} from '#libs/config';
import { subscriberBufferEnv, subscriberBufferFrom } from '#libs/backpressure';
import { MAX_SUBMIT_BATCH } from '#libs/contracts';
import {
  apiKeyCacheEnv,
  connectionQuotaEnv,
  operationLimitsEnv,
  operationLimitsFrom,
  rateLimitLeaseEnv,
  subscriptionQuotaEnv,
} from '#libs/auth';

/** A flag whose default depends on the mode (resolved in loadGatewayConfig). */
const optionalFlag = () =>
  z
    .enum(['1', '0', 'true', 'false', 'yes', 'no'], { message: 'expected 1/0, true/false or yes/no' })
    .transform((v) => v === '1' || v === 'true' || v === 'yes')
    .optional();

/** Everything the gateway reads from the environment, parsed once. */
export const gatewayEnv = {
  ...runtimeEnv,
  ...redisEnv,
  ...portsEnv,
  ...tlsEnv,
  /** Subgraph endpoints; default to the local ports (HTTP; graphql-ws uses the same URL with ws:). */
  JOBS_SUBGRAPH_URL: url(['http', 'https'], 'http://127.0.0.1:4001/graphql').optional(),
  ARTIFACTS_SUBGRAPH_URL: url(['http', 'https'], 'http://127.0.0.1:4002/graphql').optional(),
  /** The composed supergraph, hot-reloaded when it changes. */
  SUPERGRAPH_PATH: z.string().default('graphql/supergraph.graphql'),
  /** Development only: compose at run time by introspecting the subgraphs instead of reading the file. */
  SUPERGRAPH_INTROSPECT: flag(false),
  RATE_LIMIT_PER_MINUTE: positiveInt(600),
  /** Requests a key may send at once after a quiet period (default: 10 % of a minute's allowance, at least 20). */
  RATE_LIMIT_BURST: z.coerce.number().int().positive('expected a positive integer').optional(),
  ...rateLimitLeaseEnv,
  ...apiKeyCacheEnv,
  /**
   * MAX_QUERY_DEPTH, MAX_QUERY_ALIASES, MAX_ROOT_FIELDS, MAX_QUERY_COST, QUERY_COST_DEFAULT_LIST_SIZE,
   * MAX_RECURSIVE_SELECTIONS (also Apollo's recursive-selection guard), MAX_QUERY_DIRECTIVES: the names and defaults
   * a subgraph bounds its direct callers with too.
   */
  ...operationLimitsEnv,
  MAX_BODY_BYTES: positiveInt(256 * 1024),
  /** Bytes of one GraphQL document (the `query` text; variables count in MAX_BODY_BYTES). */
  MAX_DOCUMENT_BYTES: positiveInt(64 * 1024),
  /** Lexer tokens of one document: parsing stops past it. */
  MAX_QUERY_TOKENS: positiveInt(5_000),
  /** Operations plus fragments in one document. */
  MAX_QUERY_DEFINITIONS: positiveInt(50),
  /** `...Fragment` spreads written in one document. */
  MAX_FRAGMENT_SPREADS: nonNegativeInt(200),
  /** Bytes of one string literal in a document (large values belong in variables). */
  MAX_STRING_BYTES: positiveInt(16 * 1024),
  /**
   * Estimated bytes of admitted documents kept by text (parse, shape, complexity and validation done once
   * per distinct document); 0 turns the cache off.
   */
  DOCUMENT_CACHE_BYTES: nonNegativeInt(32 * 1024 * 1024),
  /** MAX_SUBSCRIPTIONS_PER_CONNECTION, MAX_SUBSCRIPTIONS_PER_KEY: the same bounds as on the jobs subgraph's direct callers. */
  ...subscriptionQuotaEnv,
  /** MAX_CONNECTIONS_PER_KEY: open graphql-ws connections of one API key, with the jobs subgraph's direct callers. */
  ...connectionQuotaEnv,
  /**
   * Events one subscriber may have queued (after NODE_PROGRESS coalescing) before it is cut off:
   * SUBSCRIBER_BUFFER (512), as in the jobs subgraph; SUBSCRIPTION_BUFFER is its deprecated name.
   */
  ...subscriberBufferEnv,
  /**
   * Bytes (JSON) of subscription events this replica may hold for one API key: queued for its subscribers, kept
   * as the replay history of the shared streams it opened, and written to its connections but not yet taken by
   * their sockets; past it that subscription ends UNAVAILABLE (`limit: bufferedBytesPerKey`). 0: no bound. See
   * buffered-bytes.ts.
   */
  BUFFERED_BYTES_PER_KEY: nonNegativeInt(32 * 1024 * 1024),
  /**
   * The same bytes for every key together on this replica; once reached, a subscription whose key holds more than
   * an equal share of it ends UNAVAILABLE (`limit: bufferedBytesTotal`), the others go on. 0: no bound. Default:
   * a quarter of node's heap limit, at most 128 MiB (defaultBufferedBytesTotal).
   */
  BUFFERED_BYTES_TOTAL: nonNegativeInt(defaultBufferedBytesTotal()),
  /** Bytes (estimated) of subscription query plans kept, least recently used out first. */
  SUBSCRIPTION_PLAN_CACHE_BYTES: positiveInt(8 * 1024 * 1024),
  /**
   * Subscribers of one job share the entity fetches (fields of other subgraphs) of one event: one subgraph
   * request, started after the event reached the gateway, so each event still sees its job as of that event.
   * Off: one request per subscriber and event.
   */
  SUBSCRIPTION_FETCH_SHARING: flag(true),
  /** graphql-ws keep-alive towards clients and subgraphs; a peer silent for as long again is terminated. */
  WS_PING_MS: positiveInt(12_000),
  /** Introspection; default: on outside production, off in production. */
  INTROSPECTION: optionalFlag(),
  /** bull-board at /admin/queues for `admin` keys; default: on outside production, off in production. */
  ADMIN_UI_ENABLED: optionalFlag(),
  /** Comma-separated allowed origins for CORS (`*` for any); empty: same-origin only. */
  CORS_ORIGINS: commaList([]),
  /** GraphiQL at /playground and GET /graphql; default: on outside production, off in production. */
  PLAYGROUND: optionalFlag(),
  /**
   * `/metrics` only for an `admin` API key (`Authorization: Bearer <key>`); default: on in production, off
   * outside it (a local Prometheus scrapes without a key).
   */
  METRICS_REQUIRE_ADMIN: optionalFlag(),
  /** The browser console at /console (static; every call it makes is authenticated with the user's key). */
  CONSOLE: flag(true),
  /**
   * Where browsers reach the object store (the artifacts subgraph's presigned URLs): the console's CSP allows
   * that origin alone for uploads and artifact previews. Same variables and meaning as the artifacts subgraph's.
   */
  S3_ENDPOINT: s3Env.S3_ENDPOINT,
  S3_PUBLIC_ENDPOINT: s3Env.S3_PUBLIC_ENDPOINT,
};

export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env) {
  const c = loadConfig(gatewayEnv, env);
  const production = isProduction(c);
  if (production && c.SUPERGRAPH_INTROSPECT)
    throw new ConfigError([
      {
        variable: 'SUPERGRAPH_INTROSPECT',
        expected: 'off in production: compose statically (npm run compose)',
      },
    ]);
  return {
    ...c,
    production,
    jobsSubgraphUrl: c.JOBS_SUBGRAPH_URL ?? `http://127.0.0.1:${c.JOBS_SUBGRAPH_PORT}/graphql`,
    artifactsSubgraphUrl: c.ARTIFACTS_SUBGRAPH_URL ?? `http://127.0.0.1:${c.ARTIFACTS_SUBGRAPH_PORT}/graphql`,
    subscriberBuffer: subscriberBufferFrom(c),
    rateLimitBurst: c.RATE_LIMIT_BURST ?? Math.max(MAX_SUBMIT_BATCH, Math.ceil(c.RATE_LIMIT_PER_MINUTE / 10)),
    introspection: c.INTROSPECTION ?? !production,
    adminUiEnabled: c.ADMIN_UI_ENABLED ?? !production,
    playground: c.PLAYGROUND ?? !production,
    consoleStorageOrigin: new URL(c.S3_PUBLIC_ENDPOINT ?? c.S3_ENDPOINT).origin,
    metricsRequireAdmin: c.METRICS_REQUIRE_ADMIN ?? production,
    guardLimits: {
      maxBytes: c.MAX_DOCUMENT_BYTES,
      maxTokens: c.MAX_QUERY_TOKENS,
      maxDefinitions: c.MAX_QUERY_DEFINITIONS,
      maxFragmentSpreads: c.MAX_FRAGMENT_SPREADS,
      maxStringBytes: c.MAX_STRING_BYTES,
      ...operationLimitsFrom(c),
    },
  };
}

/**
 * A quarter of node's heap limit, at most 128 MiB. In the compose file's 768 MiB container node sets the heap limit
 * at 396 MiB: this gives 99 MiB there. Measured with that heap limit (8 keys × 100 paused replays of a 200-node
 * job): events held as their JSON, one byte per character (resolved-event.ts), grow the live heap by ≈ 1× the bytes
 * counted, and 128 MiB counted peaked at 234 MiB of heap used. Before, as result objects beside a JSON often held two
 * bytes per character (5.4× the bytes counted in a 100-node replay), 128 MiB crashed the gateway (session 24).
 */
export function defaultBufferedBytesTotal(heapLimit = getHeapStatistics().heap_size_limit): number {
  return Math.min(128 * 1024 * 1024, Math.floor(heapLimit / 4));
}
