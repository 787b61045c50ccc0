import { metrics } from '#libs/observability';
import type { ResourceClass } from '#libs/contracts';
import type { DispatchMetrics } from './scheduler/fair-dispatcher.js';
import type { StageDepth } from './scheduler/fair-queue.js';

/**
 * The fair-share stage's gauges and counters. Per-tenant depth is not exported (tenants are unbounded, so the
 * label set would be): the total held and the number of tenants waiting say whether fair share is holding work.
 */
export function createDispatchMetrics(
  stageDepth: () => Promise<Record<ResourceClass, StageDepth>>,
): DispatchMetrics {
  const dispatched = metrics.counter({
    name: 'switchyard_dispatched_total',
    help: 'Node attempts handed from the fair-share stage to the node queue',
    labelNames: ['resource_class'] as const,
  });
  const leaseSize = metrics.histogram({
    name: 'switchyard_dispatch_lease_attempts',
    help: 'Attempts per node-queue job handed over by the fair-share stage (1: a single attempt; more: a lease)',
    labelNames: ['resource_class'] as const,
    buckets: [1, 2, 4, 8, 16],
  });
  const failed = metrics.counter({
    name: 'switchyard_dispatch_failures_total',
    help: 'Node attempts popped for dispatch whose queue add failed (the reconciler enqueues them again)',
    labelNames: ['resource_class'] as const,
  });
  const healed = metrics.counter({
    name: 'switchyard_fair_occupancy_healed_total',
    help: 'Occupancy entries of ended node attempts the leader dropped because no end step had removed them',
    labelNames: ['resource_class'] as const,
  });
  const takenBack = metrics.counter({
    name: 'switchyard_fair_taken_back_total',
    help: 'Node attempts of tenants beyond their share taken back out of the node queue (no worker had taken them) so that a tenant waiting under its share goes first',
    labelNames: ['resource_class'] as const,
  });
  const gauge = (name: string, help: string, pick: (d: StageDepth) => number) =>
    metrics.gauge({
      name,
      help,
      labelNames: ['resource_class'] as const,
      async collect() {
        try {
          for (const [rc, d] of Object.entries(await stageDepth())) this.set({ resource_class: rc }, pick(d));
        } catch {
          // Redis unreachable: keep the last values; readiness reports the outage
        }
      },
    });
  gauge(
    'switchyard_fair_queue_depth',
    'Node attempts held by the fair-share stage (ready or waiting for their retry backoff)',
    (d) => d.held,
  );
  gauge(
    'switchyard_fair_queue_tenants',
    'Tenants with ready node attempts in the fair-share stage',
    (d) => d.tenants,
  );
  gauge(
    'switchyard_dispatch_window_used',
    'Node-queue jobs (single attempts and leases) no worker has taken yet: slots of the dispatch window in use',
    (d) => d.dispatched,
  );
  return {
    dispatched: (resource_class, attemptsPerJob) => {
      let attempts = 0;
      for (const n of attemptsPerJob) {
        attempts += n;
        leaseSize.observe({ resource_class }, n);
      }
      dispatched.inc({ resource_class }, attempts);
    },
    dispatchFailed: (resource_class, n) => failed.inc({ resource_class }, n),
    occupancyHealed: (resource_class, n) => healed.inc({ resource_class }, n),
    takenBack: (resource_class, n) => takenBack.inc({ resource_class }, n),
  };
}
