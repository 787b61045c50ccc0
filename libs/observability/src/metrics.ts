import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process; every metric of the process is defined through `metrics`. */
export const registry = new Registry();
let defaultsOn = false;

/** Process metrics (CPU, memory, event loop lag, GC) labelled with the service name. */
export function enableDefaultMetrics(service: string): void {
  if (defaultsOn) return;
  defaultsOn = true;
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
}

/** Every metric name starts with this (docs/metrics.md lists them all). */
export const METRIC_PREFIX = 'switchyard_';

/**
 * Histogram buckets in seconds. `fast`: request latencies (GraphQL operations, event delivery), 1 ms..10 s.
 * `slow`: waits and runs that take seconds to hours (queue wait, schedule-to-start, attempt duration).
 */
export const SECONDS_BUCKETS = {
  fast: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  slow: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200],
} as const;

type Config<L extends string> = { name: string; help: string; labelNames?: readonly L[] };

// Defining the same metric twice (two modules, a test re-import) returns the existing one.
function getOrCreate<M>(name: string, make: () => M): M {
  // One prefix for every app, so dashboards and alert rules can rely on it (checked by the catalog test).
  if (!name.startsWith(METRIC_PREFIX)) throw new Error(`metric ${name} lacks the ${METRIC_PREFIX} prefix`);
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

export const metrics = {
  counter<L extends string = string>(c: Config<L>): Counter<L> {
    return getOrCreate(
      c.name,
      () => new Counter<L>({ ...c, labelNames: c.labelNames ?? [], registers: [registry] }),
    );
  },
  gauge<L extends string = string>(
    c: Config<L> & { collect?: (this: Gauge<L>) => void | Promise<void> },
  ): Gauge<L> {
    return getOrCreate(
      c.name,
      () => new Gauge<L>({ ...c, labelNames: c.labelNames ?? [], registers: [registry] }),
    );
  },
  histogram<L extends string = string>({
    buckets,
    ...c
  }: Config<L> & { buckets?: readonly number[] }): Histogram<L> {
    return getOrCreate(
      c.name,
      () =>
        new Histogram<L>({
          ...c,
          labelNames: c.labelNames ?? [],
          ...(buckets ? { buckets: [...buckets] } : {}),
          registers: [registry],
        }),
    );
  },
};
