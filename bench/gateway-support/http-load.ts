/**
 * A closed-loop HTTP load: `concurrency` lanes each POST one GraphQL request after the other over keep-alive
 * connections for `durationMs`. Every answer must be 200 with data and no errors: the first one that is not
 * fails the run (a benchmark of refused requests measures nothing).
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface GraphQLCall {
  query: string;
  variables?: (i: number) => Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface LoadRun {
  requests: number;
  elapsedMs: number;
  latenciesMs: number[];
}

export class HttpGraphQLClient {
  private readonly agent: Agent;
  private readonly target: URL;

  constructor(url: string, sockets: number) {
    this.target = new URL(url);
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets });
  }

  /** POSTs one operation; resolves with its `data`, rejects on a non-200 answer or any GraphQL error. */
  post(body: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.agent,
          host: this.target.hostname,
          port: this.target.port,
          path: this.target.pathname,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: { data?: Record<string, unknown> | null; errors?: Array<{ message: string }> };
            try {
              parsed = JSON.parse(text) as typeof parsed;
            } catch {
              return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
            }
            if (res.statusCode !== 200 || parsed.errors?.length || !parsed.data)
              return reject(
                new Error(
                  `HTTP ${res.statusCode}: ${parsed.errors?.map((e) => e.message).join('; ') ?? text.slice(0, 300)}`,
                ),
              );
            resolve(parsed.data);
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export async function runClosedLoop(
  client: HttpGraphQLClient,
  call: GraphQLCall,
  concurrency: number,
  durationMs: number,
): Promise<LoadRun> {
  const latenciesMs: number[] = [];
  let n = 0;
  let failure: unknown;
  const start = performance.now();
  const deadline = start + durationMs;
  const lane = async () => {
    while (failure === undefined && performance.now() < deadline) {
      const i = n++;
      const body = JSON.stringify({ query: call.query, variables: call.variables?.(i) ?? {} });
      const t0 = performance.now();
      try {
        await client.post(body, call.headers);
      } catch (e) {
        failure ??= e;
        return;
      }
      latenciesMs.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  if (failure !== undefined) throw failure;
  return { requests: latenciesMs.length, elapsedMs: performance.now() - start, latenciesMs };
}
