import { metrics } from '#libs/observability';

/**
 * Why a subgraph refused a direct caller's operation (api-key, jwt: not through our gateway) or ended its
 * subscription: a QUERY_TOO_COMPLEX limit as `extensions.limits[].limit` names it, `burst` (more items than the
 * key's burst), `rateLimited` / `unavailable` (the key's bucket refused, or could not answer), or
 * `subscriptionEvents` (the events a subscription delivered emptied the bucket).
 */
export type DirectRefusalReason = string;

const refusals = metrics.counter({
  name: 'switchyard_direct_operations_refused_total',
  help: "Direct callers' operations a subgraph refused before they ran, or subscriptions it ended, by reason",
  labelNames: ['reason'] as const,
});

/** Counts one refusal (our gateway counts its own clients' in switchyard_gateway_refused_total). */
export function countDirectRefusal(reason: DirectRefusalReason): void {
  refusals.inc({ reason });
}
