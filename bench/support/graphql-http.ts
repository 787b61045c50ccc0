/**
 * The benchmarks' GraphQL-over-HTTP client: POSTs on one keep-alive pool (node:http, lighter on the shared CPUs
 * than fetch). Answers are parsed; transport failures throw, GraphQL errors are returned for the caller to judge
 * (`data` throws on them).
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

  /**
   * A kept-alive socket the server closed while idle fails the next request sent on it before the server read
   * anything (ECONNRESET / "socket hang up" on a reused socket): that request, and only that one, is sent again
   * on a fresh socket (what the Node docs advise for `request.reusedSocket`). It never reached the server, so a
   * submit is not doubled.
   */
  async post<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphqlAnswer<T>> {
    const body = JSON.stringify({ query, variables });
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.send<T>(body, headers);
      } catch (e) {
        if (!(e instanceof StaleSocketError) || attempt >= 3)
          throw e instanceof StaleSocketError ? e.cause : e;
      }
    }
  }

  /** `post`, throwing on a non-200 answer, any GraphQL error or missing data. */
  async data<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<T> {
    const r = await this.post<T>(query, variables, headers);
    if (r.status !== 200 || r.errors?.length || !r.data)
      throw new Error(`GraphQL error (HTTP ${r.status}): ${describeErrors(r)}`);
    return r.data;
  }

  close(): void {
    this.agent.destroy();
  }

  private send<T>(body: string, headers: Record<string, string> = {}): Promise<GraphqlAnswer<T>> {
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
            ...headers,
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
      let answered = false;
      req.on('response', () => (answered = true));
      req.on('error', (e: NodeJS.ErrnoException) => {
        const stale =
          req.reusedSocket && !answered && (e.code === 'ECONNRESET' || e.message === 'socket hang up');
        reject(stale ? new StaleSocketError(e) : e);
      });
      req.end(body);
    });
  }
}

class StaleSocketError extends Error {
  constructor(override readonly cause: Error) {
    super(`a kept-alive socket was closed by the server: ${cause.message}`);
  }
}

/** "CODE: message; …" of an answer's errors (or the answer itself when it has none), for failure messages. */
export function describeErrors(answer: GraphqlAnswer<unknown>): string {
  if (!answer.errors?.length) return JSON.stringify(answer).slice(0, 500);
  return answer.errors
    .map((e) => `${(e.extensions?.code as string | undefined) ?? 'NO_CODE'}: ${e.message}`)
    .join('; ')
    .slice(0, 500);
}
