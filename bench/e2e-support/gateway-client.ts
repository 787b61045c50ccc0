import { Agent, request } from 'node:http';

/** One input of submitJob/submitJobs: a one-node job whose task does nothing (test.sleep for 0 ms). */
export const noopJobInput = (i: number) => ({
  graph: { nodes: [{ id: 'only', task: 'test.sleep', inputs: { ms: 0 } }] },
  labels: { bench: String(i) },
});

const SUBMIT_JOB = 'mutation Submit($input: SubmitJobInput!) { submitJob(input: $input) { id } }';
const SUBMIT_JOBS =
  'mutation SubmitMany($inputs: [SubmitJobInput!]!) { submitJobs(inputs: $inputs) { index job { id } error { code message } } }';

interface GraphqlResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/**
 * The benchmark's client of the gateway: GraphQL over HTTP POST with a keep-alive pool (node:http, lighter on
 * the shared CPUs than fetch), authenticated with the API key as any client would be.
 */
export class GatewayClient {
  private readonly agent: Agent;
  private readonly target: URL;

  constructor(
    url: string,
    private readonly key: string,
    maxSockets: number,
  ) {
    this.target = new URL(url);
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  async submitJob(i: number): Promise<string> {
    const body = await this.post<{ submitJob: { id: string } }>(SUBMIT_JOB, { input: noopJobInput(i) });
    if (!body.data?.submitJob) throw new Error(`submitJob failed: ${describeErrors(body)}`);
    return body.data.submitJob.id;
  }

  /** submitJobs for inputs first…first+count-1; every item must have been accepted. */
  async submitJobs(first: number, count: number): Promise<string[]> {
    const inputs = Array.from({ length: count }, (_, k) => noopJobInput(first + k));
    const body = await this.post<{
      submitJobs: Array<{
        index: number;
        job: { id: string } | null;
        error: { code: string; message: string } | null;
      }>;
    }>(SUBMIT_JOBS, { inputs });
    const items = body.data?.submitJobs;
    if (!items) throw new Error(`submitJobs failed: ${describeErrors(body)}`);
    if (items.length !== count)
      throw new Error(`submitJobs answered ${items.length} items for ${count} inputs`);
    return items.map((item, k) => {
      if (item.index !== k) throw new Error(`submitJobs item ${k} carries index ${item.index}`);
      if (!item.job)
        throw new Error(`submitJobs item ${k} refused: ${item.error?.code} ${item.error?.message}`);
      return item.job.id;
    });
  }

  /** Whether the gateway's schema has `submitJobs` (older stacks do not). */
  async hasSubmitJobs(): Promise<boolean> {
    const body = await this.post<{ __type: { fields: Array<{ name: string }> } | null }>(
      '{ __type(name: "Mutation") { fields { name } } }',
      {},
    );
    return Boolean(body.data?.__type?.fields.some((f) => f.name === 'submitJobs'));
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * A kept-alive socket the server closed while idle fails the next request sent on it before the server
   * read anything (ECONNRESET / "socket hang up" on a reused socket): that request, and only that one, is sent
   * again on a fresh socket (what the Node docs advise for `request.reusedSocket`). It never reached the server,
   * so a submit is not doubled.
   */
  private async post<T>(query: string, variables: Record<string, unknown>): Promise<GraphqlResponse<T>> {
    const payload = JSON.stringify({ query, variables });
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.send<T>(payload);
      } catch (e) {
        if (!(e instanceof StaleSocketError) || attempt >= 3)
          throw e instanceof StaleSocketError ? e.cause : e;
      }
    }
  }

  private send<T>(payload: string): Promise<GraphqlResponse<T>> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.agent,
          hostname: this.target.hostname,
          port: this.target.port,
          path: this.target.pathname,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            authorization: `Bearer ${this.key}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve(JSON.parse(text) as GraphqlResponse<T>);
            } catch {
              reject(new Error(`HTTP ${res.statusCode} with a body that is not JSON: ${text.slice(0, 300)}`));
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
      req.end(payload);
    });
  }
}

class StaleSocketError extends Error {
  constructor(override readonly cause: Error) {
    super(`a kept-alive socket was closed by the server: ${cause.message}`);
  }
}

function describeErrors(body: GraphqlResponse<unknown>): string {
  return (body.errors ?? [])
    .map((e) => `${e.extensions?.code ?? 'NO_CODE'}: ${e.message}`)
    .join('; ')
    .slice(0, 500);
}
