import type { GraphQLDataSource, ServiceMap } from '@apollo/gateway';
import type { CallerIdentity } from './upstream-pool.js';

type ProcessOptions = Parameters<GraphQLDataSource['process']>[0];
type Response = Awaited<ReturnType<GraphQLDataSource['process']>>;

/**
 * Many subscribers of the same job resolve the same entity fetch for the same event (1,000 dashboards
 * watching one job would otherwise send 1,000 identical `_entities` requests per event). Identical
 * fetches of one identity within `windowMs` share one subgraph request; each caller gets its own copy,
 * because executeQueryPlan merges into what it receives. The window is short enough that "the job as of
 * now" stays current.
 */
export class CoalescedFetches {
  private readonly recent = new Map<string, { response: Promise<Response>; expires: number }>();
  /** Subgraph requests actually sent / served from a shared one (for metrics and tests). */
  sent = 0;
  shared = 0;

  constructor(private readonly windowMs: number) {}

  wrap(services: ServiceMap): ServiceMap {
    const wrapped: ServiceMap = {};
    for (const [name, source] of Object.entries(services))
      wrapped[name] = { process: (options) => this.process(name, source, options) };
    return wrapped;
  }

  private async process(name: string, source: GraphQLDataSource, options: ProcessOptions): Promise<Response> {
    const identity = (options.context as { identity?: CallerIdentity } | undefined)?.identity;
    if (!identity) return source.process(options);
    const now = Date.now();
    this.sweep(now);
    const key = JSON.stringify([
      name,
      identity.tenant,
      identity.keyId,
      identity.scopes,
      options.request.query,
      options.request.variables,
    ]);
    let entry = this.recent.get(key);
    if (entry && entry.expires > now) this.shared++;
    else {
      this.sent++;
      entry = { response: source.process(options), expires: now + this.windowMs };
      this.recent.set(key, entry);
      // A failed fetch is not shared beyond the callers already waiting for it.
      entry.response.catch(() => this.recent.delete(key));
    }
    return structuredClone(await entry.response);
  }

  private sweep(now: number): void {
    if (this.recent.size < 256) return;
    for (const [key, entry] of this.recent) if (entry.expires <= now) this.recent.delete(key);
  }
}
