/**
 * A GraphQL-over-HTTP client on one keep-alive agent (node:http; no extra package): the load loop and the
 * seeder use it. Answers are parsed; transport failures throw, GraphQL errors are returned for the caller
 * to judge.
 */
import { Agent, request } from 'node:http';

export interface GraphqlAnswer<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

export class GraphqlHttp {
  private readonly agent: Agent;
  private readonly target: URL;

  constructor(
    url: string,
    private readonly headers: Record<string, string>,
    sockets = 50,
  ) {
    this.target = new URL(url);
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  post<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<GraphqlAnswer<T>> {
    const body = JSON.stringify({ query, variables });
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.agent,
          host: this.target.hostname,
          port: this.target.port,
          path: this.target.pathname,
          method: 'POST',
          headers: {
            ...this.headers,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve({ status: res.statusCode ?? 0, ...(JSON.parse(text) as object) });
            } catch {
              reject(new Error(`HTTP ${res.statusCode}: not JSON: ${text.slice(0, 300)}`));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** `post`, throwing on any GraphQL error or missing data. */
  async data<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const r = await this.post<T>(query, variables);
    if (r.errors?.length || !r.data)
      throw new Error(`GraphQL error (HTTP ${r.status}): ${JSON.stringify(r.errors ?? r).slice(0, 500)}`);
    return r.data;
  }

  close(): void {
    this.agent.destroy();
  }
}
