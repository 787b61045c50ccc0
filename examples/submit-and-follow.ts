// Submits a job and follows its events to the end, with types generated from graphql/api.graphql
// (`npm run codegen`). Run after `npm run build`:
//
//   SWITCHYARD_URL=http://127.0.0.1:4000/graphql SWITCHYARD_API_KEY=sy_... \
//     node dist/examples/submit-and-follow.js thumbnail '{"image":"<artifact id>","width":128}'
//   ... submit-and-follow.js --graph '{"nodes":[{"id":"a","task":"image.resize","inputs":{...}}]}'
//
// The same code works against a foreign router that serves our subgraphs (docs/federation.md): point
// SWITCHYARD_URL at it; the key travels in `Authorization` (HTTP) and in the connection_init payload (ws).
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import {
  FollowJobDocument,
  SubmitJobDocument,
  type FollowJobSubscription,
  type GraphInput,
  type JobEventType,
  type SubmitJobMutation,
  type SubmitJobInput,
  type SubmitJobMutationVariables,
} from './generated/graphql.js';

const FINAL_EVENTS: ReadonlySet<JobEventType> = new Set(['JOB_SUCCEEDED', 'JOB_FAILED', 'JOB_CANCELLED']);

async function submitJob(url: string, apiKey: string, variables: SubmitJobMutationVariables) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ query: print(SubmitJobDocument), variables }),
  });
  const body = (await res.json()) as { data?: SubmitJobMutation | null; errors?: Array<{ message: string }> };
  if (!body.data) throw new Error(`submitJob failed: ${body.errors?.map((e) => e.message).join('; ')}`);
  return body.data.submitJob;
}

/** Calls `onEvent` for every event of the job, resolving with the final one. */
function followJob(
  url: string,
  apiKey: string,
  jobId: string,
  onEvent: (event: FollowJobSubscription['jobEvents']) => void,
): Promise<FollowJobSubscription['jobEvents']> {
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${apiKey}` },
  });
  return new Promise((resolve, reject) => {
    const stop = client.subscribe<FollowJobSubscription>(
      { query: print(FollowJobDocument), variables: { jobId } },
      {
        next: ({ data, errors }) => {
          if (errors?.length) return reject(new Error(errors.map((e) => e.message).join('; ')));
          if (!data) return;
          onEvent(data.jobEvents);
          if (FINAL_EVENTS.has(data.jobEvents.type)) {
            stop();
            void client.dispose();
            resolve(data.jobEvents);
          }
        },
        error: (e) => reject(e instanceof Error ? e : new Error(JSON.stringify(e))),
        // a stream that ends before the job's final event (settled above otherwise: no effect)
        complete: () => reject(new Error('the subscription ended before the job did')),
      },
    );
  });
}

async function main(): Promise<number> {
  const url = process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:4000/graphql';
  const apiKey = process.env.SWITCHYARD_API_KEY;
  const [first, second] = process.argv.slice(2);
  if (!apiKey || !first || (first === '--graph' && !second)) {
    process.stderr.write(
      'usage: SWITCHYARD_API_KEY=sy_... submit-and-follow <template> [params JSON]\n' +
        '       SWITCHYARD_API_KEY=sy_... submit-and-follow --graph <graph JSON>\n',
    );
    return 2;
  }
  const input: SubmitJobInput =
    first === '--graph'
      ? { graph: JSON.parse(second!) as GraphInput }
      : { template: first, params: second ? (JSON.parse(second) as unknown) : undefined };
  const job = await submitJob(url, apiKey, { input });
  process.stdout.write(`job ${job.id}: ${job.status}, nodes ${job.nodes.map((n) => n.id).join(', ')}\n`);
  const last = await followJob(url, apiKey, job.id, (e) =>
    process.stdout.write(
      `#${e.seq} ${e.type}${e.nodeId ? ` ${e.nodeId}` : ''}${e.message ? `: ${e.message}` : ''}\n`,
    ),
  );
  process.stdout.write(`job ${job.id} ended ${last.job.status}\n`);
  return last.job.status === 'SUCCEEDED' ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
