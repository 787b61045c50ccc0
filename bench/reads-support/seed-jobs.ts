/**
 * Seeds a tenant through the public API only: one uploaded PNG, then `jobs` jobs of `nodesPerJob`
 * image.resize nodes (the first resizes the upload, the others resize the first's output), each node
 * leaving one committed artifact; waits until every job SUCCEEDED (any other end fails the benchmark).
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { GraphqlHttp } from '../support/graphql-http.js';

const CREATE_UPLOAD = `mutation($input: CreateUploadInput!) { createUpload(input: $input) { artifactId uploadUrl method headers fields } }`;
const COMPLETE_UPLOAD = `mutation($id: ID!) { completeUpload(artifactId: $id) { id } }`;
const SUBMIT = `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id } }`;
const STATUS = `query($id: ID!) { job(id: $id) { id status error { code message } } }`;

export interface SeedOptions {
  jobs: number;
  nodesPerJob: number;
  /** Jobs submitted at once (each submit waits for its answer). */
  submitConcurrency?: number;
  timeoutMs?: number;
  log?: (line: string) => void;
}

export async function seedJobsWithArtifacts(client: GraphqlHttp, opts: SeedOptions): Promise<string[]> {
  const log = opts.log ?? (() => undefined);
  const image = await uploadPng(client);
  log(`uploaded source image ${image}`);
  const nodes = Array.from({ length: opts.nodesPerJob }, (_, i) => ({
    id: `n${i}`,
    task: 'image.resize',
    inputs: { image: i === 0 ? image : { $ref: 'n0.outputs.image' }, width: 4 + i },
  }));
  const ids: string[] = [];
  let next = 0;
  const submitters = Array.from({ length: opts.submitConcurrency ?? 8 }, async () => {
    while (next < opts.jobs) {
      const i = next++;
      const { submitJob } = await client.data<{ submitJob: { id: string } }>(SUBMIT, {
        input: { graph: { nodes }, labels: { bench: 'gateway-reads', i } },
      });
      ids.push(submitJob.id);
    }
  });
  await Promise.all(submitters);
  log(`submitted ${ids.length} jobs of ${opts.nodesPerJob} image.resize nodes; waiting for them to finish`);
  await waitAllSucceeded(client, ids, opts.timeoutMs ?? 600_000, log);
  return ids;
}

async function uploadPng(client: GraphqlHttp): Promise<string> {
  const bytes = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#3a7' } })
    .png()
    .toBuffer();
  const { createUpload: ticket } = await client.data<{
    createUpload: {
      artifactId: string;
      uploadUrl: string;
      method: string;
      headers: Record<string, string>;
      fields: Record<string, string>;
    };
  }>(CREATE_UPLOAD, {
    input: {
      name: 'source.png',
      contentType: 'image/png',
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    },
  });
  const form = new FormData();
  for (const [name, value] of Object.entries(ticket.fields)) form.append(name, value);
  form.append('file', new Blob([bytes], { type: 'image/png' }), 'upload');
  const sent = await fetch(ticket.uploadUrl, { method: ticket.method, headers: ticket.headers, body: form });
  if (!sent.ok) throw new Error(`upload POST answered ${sent.status}: ${await sent.text()}`);
  await client.data(COMPLETE_UPLOAD, { id: ticket.artifactId });
  return ticket.artifactId;
}

async function waitAllSucceeded(
  client: GraphqlHttp,
  ids: readonly string[],
  timeoutMs: number,
  log: (line: string) => void,
): Promise<void> {
  const pending = new Set(ids);
  const deadline = Date.now() + timeoutMs;
  let lastLog = 0;
  while (pending.size > 0) {
    if (Date.now() > deadline) throw new Error(`${pending.size} seeded jobs not finished in ${timeoutMs} ms`);
    for (const id of [...pending]) {
      const { job } = await client.data<{
        job: { status: string; error?: { code: string; message: string } | null } | null;
      }>(STATUS, { id });
      if (!job) throw new Error(`seeded job ${id} is not visible`);
      if (job.status === 'SUCCEEDED') pending.delete(id);
      else if (job.status !== 'QUEUED' && job.status !== 'RUNNING')
        throw new Error(`seeded job ${id} ended ${job.status}: ${JSON.stringify(job.error)}`);
      else break; // jobs finish roughly in submit order: poll the oldest unfinished one again later
    }
    if (Date.now() - lastLog > 5000) {
      log(`${ids.length - pending.size}/${ids.length} seeded jobs finished`);
      lastLog = Date.now();
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 250));
  }
}
