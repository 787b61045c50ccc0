import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process; every metric of the process is defined through `metrics`. */
export const registry = new Registry();
let defaultsOn = false;

/** Process metrics (CPU, memory, event loop lag, GC) labelled with the service name. */
export function enableDefaultMetrics(service: string): void {
  if (defaultsOn) return;
  defaultsOn = true;
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_' });
}

type Config<L extends string> = { name: string; help: string; labelNames?: readonly L[] };

// Defining the same metric twice (two modules, a test re-import) returns the existing one.
function getOrCreate<M>(name: string, make: () => M): M {
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
  histogram<L extends string = string>(c: Config<L> & { buckets?: number[] }): Histogram<L> {
    return getOrCreate(
      c.name,
      () => new Histogram<L>({ ...c, labelNames: c.labelNames ?? [], registers: [registry] }),
    );
  },
};
