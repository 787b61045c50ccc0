import { describeErrors, GraphqlHttp } from '../support/graphql-http.js';

/** One input of submitJob/submitJobs: a one-node job whose task does nothing (test.sleep for 0 ms). */
export const noopJobInput = (i: number) => ({
  graph: { nodes: [{ id: 'only', task: 'test.sleep', inputs: { ms: 0 } }] },
  labels: { bench: String(i) },
});

const SUBMIT_JOB = 'mutation Submit($input: SubmitJobInput!) { submitJob(input: $input) { id } }';
const SUBMIT_JOBS =
  'mutation SubmitMany($inputs: [SubmitJobInput!]!) { submitJobs(inputs: $inputs) { index job { id } error { code message } } }';

/**
 * The benchmark's client of the gateway: GraphQL over HTTP POST with a keep-alive pool (node:http, lighter on
 * the shared CPUs than fetch), authenticated with the API key as any client would be.
 */
export class GatewayClient {
  private readonly http: GraphqlHttp;

  constructor(url: string, key: string, maxSockets: number) {
    this.http = new GraphqlHttp(url, { authorization: `Bearer ${key}` }, maxSockets);
  }

  async submitJob(i: number): Promise<string> {
    const body = await this.http.post<{ submitJob: { id: string } }>(SUBMIT_JOB, { input: noopJobInput(i) });
    if (!body.data?.submitJob) throw new Error(`submitJob failed: ${describeErrors(body)}`);
    return body.data.submitJob.id;
  }

  /** submitJobs for inputs first…first+count-1; every item must have been accepted. */
  async submitJobs(first: number, count: number): Promise<string[]> {
    const inputs = Array.from({ length: count }, (_, k) => noopJobInput(first + k));
    const body = await this.http.post<{
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
    const body = await this.http.post<{ __type: { fields: Array<{ name: string }> } | null }>(
      '{ __type(name: "Mutation") { fields { name } } }',
      {},
    );
    return Boolean(body.data?.__type?.fields.some((f) => f.name === 'submitJobs'));
  }

  close(): void {
    this.http.close();
  }
}
