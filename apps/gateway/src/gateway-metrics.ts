import type { SubscriptionQuotaEvents } from '#libs/auth';
import { metrics, SECONDS_BUCKETS } from '#libs/observability';
import type { ObserveOperation } from './operation-metrics-plugin.js';
import type { ForwarderMetrics } from './subscriptions/subscription-forwarder.js';
import type { GuardMetrics } from './limits/operation-guard.js';
import type { UpstreamPoolEvents } from './subscriptions/upstream-pool.js';

/** The gateway's metrics, defined once and handed to the cores as plain callbacks. */
export function createGatewayMetrics() {
  const refused = metrics.counter({
    name: 'switchyard_gateway_refused_total',
    help: 'Operations refused by the gateway',
    labelNames: ['reason'],
  });
  const subscriptions = metrics.gauge({
    name: 'switchyard_gateway_subscriptions',
    help: 'Client subscriptions being forwarded',
  });
  const events = metrics.counter({
    name: 'switchyard_gateway_subscription_events_total',
    help: 'Upstream subscription events by outcome (delivered, duplicate dropped, progress coalesced)',
    labelNames: ['outcome'],
  });
  const overflows = metrics.counter({
    name: 'switchyard_gateway_subscriber_overflows_total',
    help: 'Subscribers cut off for falling too far behind',
  });
  const upstream = metrics.counter({
    name: 'switchyard_gateway_upstream_ws_total',
    help: 'Upstream graphql-ws connection events by subgraph (connected, reconnected, closed, dead_peer)',
    labelNames: ['service', 'event'],
  });
  const connections = metrics.gauge({
    name: 'switchyard_gateway_ws_connections',
    help: 'Open client graphql-ws connections',
  });
  let bufferedBytesNow = () => 0;
  metrics.gauge({
    name: 'switchyard_gateway_buffered_bytes',
    help: 'Bytes of subscription events held for clients that have not read them (resolving, queued, kept for late joiners, in send buffers): what BUFFERED_BYTES_TOTAL bounds',
    collect() {
      this.set(bufferedBytesNow());
    },
  });
  const reloads = metrics.counter({
    name: 'switchyard_gateway_supergraph_reload_failures_total',
    help: 'Supergraph files rejected on hot reload',
  });
  const keyCache = metrics.gauge({
    name: 'switchyard_gateway_api_key_cache_live',
    help: 'Whether API keys are answered from the cache (1: revocations subscribed) or read from Redis per request (0)',
  });
  const operations = metrics.histogram({
    name: 'switchyard_gateway_operation_duration_seconds',
    help: 'HTTP GraphQL operations at the gateway, arrival to response, by type, name (bounded) and outcome',
    labelNames: ['type', 'name', 'outcome'],
    buckets: SECONDS_BUCKETS.fast,
  });
  const operation: ObserveOperation = (type, name, outcome, seconds) =>
    operations.observe({ type, name, outcome }, seconds);

  const forwarder: ForwarderMetrics = {
    event: (outcome) => events.inc({ outcome }),
    overflow: () => overflows.inc(),
    bufferedBytesRefused: (limit) => refused.inc({ reason: limit }),
    active: (delta) => subscriptions.inc(delta),
  };
  const guard: GuardMetrics = { refused: (reason) => refused.inc({ reason }) };
  // the bound that refused (the answer's `extensions.limit`): apart from the rate limit's RATE_LIMITED
  const subscriptionQuota: SubscriptionQuotaEvents = { refused: (limit) => refused.inc({ reason: limit }) };
  const connectionQuota = { refused: (reason: string) => refused.inc({ reason }) };
  const pool: UpstreamPoolEvents = {
    connected: (service, reconnect) =>
      upstream.inc({ service, event: reconnect ? 'reconnected' : 'connected' }),
    closed: (service) => upstream.inc({ service, event: 'closed' }),
    deadPeer: (service) => upstream.inc({ service, event: 'dead_peer' }),
  };
  return {
    operation,
    forwarder,
    guard,
    subscriptionQuota,
    connectionQuota,
    pool,
    refused: (reason: string) => refused.inc({ reason }),
    connections: (delta: number) => connections.inc(delta),
    reloadFailed: () => reloads.inc(),
    keyCacheLive: (live: boolean) => keyCache.set(live ? 1 : 0),
    /** Where the buffered-bytes gauge reads its value at each scrape. */
    bufferedBytesFrom: (read: () => number) => {
      bufferedBytesNow = read;
    },
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
