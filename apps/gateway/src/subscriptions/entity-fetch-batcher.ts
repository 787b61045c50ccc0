import type { GraphQLDataSource, ServiceMap } from '@apollo/gateway';
import type { CallerIdentity } from './upstream-pool.js';

type ProcessOptions = Parameters<GraphQLDataSource['process']>[0];
type Response = Awaited<ReturnType<GraphQLDataSource['process']>>;

/** A subgraph request on its way or done; `tick` orders its start against event arrivals. */
interface StartedFetch {
  tick: number;
  at: number;
  settled: boolean;
  response: Promise<Response>;
}

interface FetchesOfKey {
  latest?: StartedFetch;
  /** The batch gathering while `latest` is in flight; it starts when `latest` settles. */
  next?: Promise<Response>;
}

export interface EntityFetchBatcherOptions {
  /** How long arrivals and the latest request of a key are remembered for late copies of an event. */
  retainMs?: number;
  now?: () => number;
}

/**
 * Many subscribers of the same job resolve the same entity fetch for the same event (1,000 dashboards
 * watching one job would otherwise send 1,000 identical `_entities` requests per event). The contract says
 * `JobEvent.job` is the job as of now, so an event may only be resolved by a subgraph request that STARTED
 * AFTER the event reached the gateway: anything the subgraph committed before emitting the event is then
 * in the answer. One logical clock orders event arrivals and request starts:
 *
 * - `arrived(eventKey)` is the tick of the first arrival of that event (every subscriber gets its own copy
 *   of it upstream; the first copy is when the gateway had it). Copies delivered later share the request
 *   started for it, even after it completed: it started after their event arrived.
 * - A caller reuses the latest request of its key only if it started after the caller's event arrived;
 *   otherwise it gets a new request. At most one request per key is in flight: callers that come meanwhile
 *   gather into the next one, which starts when it settles (so after all of them arrived).
 * - A failed request is not handed to anyone who was not already waiting for it.
 *
 * Each caller gets its own copy, because executeQueryPlan merges into what it receives. Forgetting an
 * arrival or a request (after `retainMs`) only costs sharing: a later copy then counts as a new arrival.
 */
export class EntityFetchBatcher {
  private readonly fetches = new Map<string, FetchesOfKey>();
  /** First arrival of each event, in arrival order. */
  private readonly arrivals = new Map<string, { tick: number; at: number }>();
  private clock = 0;
  private lastSweep = 0;
  private readonly retainMs: number;
  private readonly now: () => number;
  /** Subgraph requests actually sent / callers served by a request another caller started. */
  sent = 0;
  shared = 0;

  constructor(options: EntityFetchBatcherOptions = {}) {
    this.retainMs = options.retainMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Records that a copy of an event reached the gateway and returns the tick its entity fetches are judged
   * by: the first arrival of `eventKey` (which must identify one event), or this moment without a key.
   */
  arrived(eventKey?: string): number {
    const at = this.now();
    this.sweep(at);
    if (eventKey === undefined) return ++this.clock;
    const first = this.arrivals.get(eventKey);
    if (first) return first.tick;
    const tick = ++this.clock;
    this.arrivals.set(eventKey, { tick, at });
    return tick;
  }

  /** The data sources as seen by the entity fetches of one event that arrived at `arrival`. */
  wrap(services: ServiceMap, arrival: number): ServiceMap {
    const wrapped: ServiceMap = {};
    for (const [name, source] of Object.entries(services))
      wrapped[name] = { process: (options) => this.process(name, source, options, arrival) };
    return wrapped;
  }

  private async process(
    name: string,
    source: GraphQLDataSource,
    options: ProcessOptions,
    arrival: number,
  ): Promise<Response> {
    const identity = (options.context as { identity?: CallerIdentity } | undefined)?.identity;
    if (!identity) return source.process(options);
    const key = JSON.stringify([
      name,
      identity.tenant,
      identity.keyId,
      identity.scopes,
      options.request.query,
      options.request.variables,
    ]);
    let ofKey = this.fetches.get(key);
    if (!ofKey) this.fetches.set(key, (ofKey = {}));
    const latest = ofKey.latest;
    let response: Promise<Response>;
    if (latest && latest.tick > arrival) {
      this.shared++;
      response = latest.response;
    } else if (ofKey.next) {
      this.shared++;
      response = ofKey.next;
    } else if (latest && !latest.settled) {
      this.sent++;
      const gathering = ofKey;
      const startNext = () => this.start(key, gathering, source, options);
      response = ofKey.next = latest.response.then(startNext, startNext);
    } else {
      this.sent++;
      response = this.start(key, ofKey, source, options);
    }
    return structuredClone(await response);
  }

  private start(
    key: string,
    ofKey: FetchesOfKey,
    source: GraphQLDataSource,
    options: ProcessOptions,
  ): Promise<Response> {
    ofKey.next = undefined;
    // The tick is taken before the request goes out: an event arriving from here on is not served by it.
    const started: StartedFetch = { tick: ++this.clock, at: this.now(), settled: false, response: null! };
    try {
      started.response = Promise.resolve(source.process(options));
    } catch (error) {
      started.response = Promise.reject(error);
    }
    started.response.then(
      () => void (started.settled = true),
      () => {
        started.settled = true;
        if (ofKey.latest === started) ofKey.latest = undefined;
      },
    );
    ofKey.latest = started;
    // Re-inserted so that the map stays ordered by last start (the sweep stops at the first recent one).
    this.fetches.delete(key);
    this.fetches.set(key, ofKey);
    return started.response;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 1_000) return;
    this.lastSweep = now;
    const cutoff = now - this.retainMs;
    for (const [key, first] of this.arrivals) {
      if (first.at >= cutoff) break;
      this.arrivals.delete(key);
    }
    for (const [key, ofKey] of this.fetches) {
      if (ofKey.next || (ofKey.latest && !ofKey.latest.settled)) continue;
      if (ofKey.latest && ofKey.latest.at >= cutoff) break;
      this.fetches.delete(key);
    }
  }
}
