/**
 * An autocannon-like closed loop: `connections` callers, each on its own keep-alive socket, send the next
 * request as soon as the previous answer is in, for `seconds`. Every answer must be HTTP 200 without
 * GraphQL errors; the first few failures are kept to be printed.
 */
import { GraphqlHttp } from '../support/graphql-http.js';

export interface LoadResult {
  requests: number;
  failures: number;
  firstFailures: string[];
  seconds: number;
  latenciesMs: number[];
}

export async function runLoad(opts: {
  url: string;
  headers: Record<string, string>;
  query: string;
  /** Variables of the i-th request. */
  variables: (i: number) => Record<string, unknown>;
  connections: number;
  seconds: number;
}): Promise<LoadResult> {
  const client = new GraphqlHttp(opts.url, opts.headers, opts.connections);
  const latenciesMs: number[] = [];
  const firstFailures: string[] = [];
  let failures = 0;
  let sent = 0;
  const started = performance.now();
  const stopAt = started + opts.seconds * 1000;
  const caller = async () => {
    while (performance.now() < stopAt) {
      const i = sent++;
      const t0 = performance.now();
      try {
        const r = await client.post(opts.query, opts.variables(i));
        if (r.status !== 200 || r.errors?.length || !r.data) {
          failures++;
          if (firstFailures.length < 5)
            firstFailures.push(`HTTP ${r.status}: ${JSON.stringify(r.errors ?? r).slice(0, 300)}`);
        }
      } catch (e) {
        failures++;
        if (firstFailures.length < 5) firstFailures.push(String(e));
      }
      latenciesMs.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: opts.connections }, caller));
  const seconds = (performance.now() - started) / 1000;
  client.close();
  return { requests: latenciesMs.length, failures, firstFailures, seconds, latenciesMs };
}
