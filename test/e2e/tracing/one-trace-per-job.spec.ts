// A real stack from the built apps (npm run build first), exporting to an OTLP/HTTP receiver in the test.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_SCOPES } from '#libs/contracts';
import { REPO_ROOT, waitFor } from '#libs/testing';
import { sendUpload } from '../artifacts-uploads/send-upload.js';
import { startGatewayStack, type GatewayStack } from '../gateway-support/gateway-stack.js';
import { startOtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

const KIND = { SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };

/**
 * One job, one trace: the client's request through the gateway and the jobs subgraph, the enqueue of each
 * attempt, the worker's attempts with their runner and storage spans, and the scheduler's apply of each
 * report; the worker's log lines of the attempts carry the trace id.
 */
describe('one trace per job', () => {
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let stack: GatewayStack;
  let key: string;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    stack = await startGatewayStack({
      worker: true,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      },
      // a succeeded attempt's 'attempt finished' line is at debug level
      workerEnv: { LOG_LEVEL: 'debug' },
    });
    ({ key } = await stack.createKey('tracing-tenant', [...ALL_SCOPES]));
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  }, 60_000);

  const gql = async <T = any>(
    query: string,
    variables: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): Promise<T> => {
    const res = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data as T;
  };

  async function upload(path: string): Promise<string> {
    const bytes = readFileSync(path);
    const { createUpload: t } = await gql(
      `mutation($i: CreateUploadInput!) { createUpload(input: $i) { artifactId uploadUrl method headers fields } }`,
      {
        i: {
          name: 'sample.png',
          contentType: 'image/png',
          size: bytes.length,
          sha256: createHash('sha256').update(bytes).digest('hex'),
        },
      },
    );
    expect((await sendUpload(t, bytes)).status).toBeLessThan(300);
    await gql(`mutation($id: ID!) { completeUpload(artifactId: $id) { id } }`, { id: t.artifactId });
    return t.artifactId;
  }

  it('covers gateway, jobs subgraph, queue, worker attempts, runner, storage and report applies', async () => {
    const image = await upload(join(REPO_ROOT, 'data/sample.png'));
    // The client starts the trace: its traceparent's trace id must be the job's.
    const traceId = randomBytes(16).toString('hex');
    const clientSpanId = randomBytes(8).toString('hex');
    const { submitJob } = await gql(
      `mutation($input: SubmitJobInput!) { submitJob(input: $input) { id } }`,
      {
        input: {
          graph: {
            nodes: [
              { id: 'small', task: 'image.resize', inputs: { image, width: 16 } },
              {
                id: 'tiny',
                task: 'image.resize',
                inputs: { image: { $ref: 'small.outputs.image' }, width: 8 },
              },
            ],
          },
        },
      },
      { traceparent: `00-${traceId}-${clientSpanId}-01` },
    );
    const jobId: string = submitJob.id;
    await waitFor(
      async () => {
        const { job } = await gql(`query($id: ID!) { job(id: $id) { status } }`, { id: jobId });
        if (job.status === 'FAILED' || job.status === 'CANCELLED') throw new Error(`job ${job.status}`);
        return job.status === 'SUCCEEDED';
      },
      { timeoutMs: 60_000, what: 'the job to succeed', logs: () => stack.worker!.logs().slice(-4000) },
    );

    const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
    const named = (service: string, name: string) =>
      inTrace().filter((s) => s.service === service && s.name === name);
    // Spans arrive in batches: wait for the last ones (the apply of each node's terminal report).
    await waitFor(() => named('jobs-subgraph', 'apply report succeeded').length === 2, {
      timeoutMs: 20_000,
      what: 'the report applies exported',
      logs: () => JSON.stringify(inTrace().map((s) => `${s.service} ${s.name}`)),
    });
    // ...and for every parent to be there (the gateway's request span ends after its children).
    await waitFor(() => danglingParents(inTrace(), clientSpanId).length === 0, {
      timeoutMs: 10_000,
      what: 'every parent span exported',
      logs: () => JSON.stringify(danglingParents(inTrace(), clientSpanId)),
    });
    const spans = inTrace();
    const byId = new Map(spans.map((s) => [s.spanId, s]));

    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['gateway', 'jobs-subgraph', 'gpu-worker']));
    // the root is the gateway's server span, child of the client's span
    const roots = spans.filter((s) => !byId.has(s.parentSpanId ?? ''));
    expect(roots).toHaveLength(1);
    expect(roots[0]).toMatchObject({ service: 'gateway', kind: KIND.SERVER, parentSpanId: clientSpanId });
    // the gateway's call to the jobs subgraph, and the subgraph's request under it
    expect(
      spans.some(
        (s) =>
          s.service === 'jobs-subgraph' &&
          s.kind === KIND.SERVER &&
          byId.get(s.parentSpanId!)?.service === 'gateway',
      ),
    ).toBe(true);

    // each attempt: enqueued (producer, jobs subgraph) → attempt (consumer, worker) → runner and storage
    const enqueues = named('jobs-subgraph', 'enqueue image.resize');
    const attempts = named('gpu-worker', 'attempt image.resize');
    expect(enqueues.map((s) => s.kind)).toEqual([KIND.PRODUCER, KIND.PRODUCER]);
    expect(attempts).toHaveLength(2);
    for (const nodeId of ['small', 'tiny']) {
      const attempt = attempts.find((s) => s.attributes['switchyard.node_id'] === nodeId)!;
      expect(attempt).toBeDefined();
      expect(attempt.kind).toBe(KIND.CONSUMER);
      expect(attempt.attributes).toMatchObject({
        'switchyard.job_id': jobId,
        'switchyard.tenant': 'tracing-tenant',
        'switchyard.node_id': nodeId,
        'switchyard.attempt': 1,
        'switchyard.task': 'image.resize',
      });
      const enqueue = byId.get(attempt.parentSpanId!)!;
      expect(enqueue.name).toBe('enqueue image.resize');
      expect(enqueue.attributes['switchyard.node_id']).toBe(nodeId);
      const children = spans.filter((s) => s.parentSpanId === attempt.spanId);
      const runner = children.find((s) => s.name === 'runner run');
      expect(runner?.attributes['switchyard.outcome']).toBe('succeeded');
      const storage = children.filter((s) => s.name.startsWith('storage '));
      expect(storage.map((s) => s.name)).toEqual(expect.arrayContaining(['storage fetch', 'storage stage']));
      expect(storage.every((s) => s.kind === KIND.CLIENT && s.service === 'gpu-worker')).toBe(true);
      // the reports of the attempt are applied in the attempt's trace, under the attempt's span
      const applies = spans.filter(
        (s) => s.service === 'jobs-subgraph' && s.parentSpanId === attempt.spanId && s.kind === KIND.CONSUMER,
      );
      expect(applies.map((s) => s.name)).toEqual(
        expect.arrayContaining(['apply report started', 'apply report succeeded']),
      );
      expect(applies.find((s) => s.name === 'apply report succeeded')!.attributes['switchyard.outcome']).toBe(
        'applied',
      );
    }
    // the downstream node became ready in the apply of the first node's success: its enqueue is a child of it
    const tinyEnqueue = enqueues.find((s) => s.attributes['switchyard.node_id'] === 'tiny')!;
    expect(byId.get(tinyEnqueue.parentSpanId!)).toMatchObject({
      name: 'apply report succeeded',
      attributes: expect.objectContaining({ 'switchyard.node_id': 'small' }),
    });

    // the worker's log lines of this job's attempts carry the trace (and a span of it)
    const lines = logLines(stack.worker!.logs()).filter((l) => l.jobId === jobId);
    expect(lines.filter((l) => l.msg === 'attempt finished')).toHaveLength(2);
    for (const l of lines) {
      expect(l.trace_id).toBe(traceId);
      expect(byId.has(String(l.span_id))).toBe(true);
    }
    // ...as does the subgraph's line about the submit
    const submitted = logLines(stack.jobs.logs()).find((l) => l.jobId === jobId && l.msg === 'job submitted');
    expect(submitted?.trace_id).toBe(traceId);
  }, 120_000);
});

/** Parent ids no span of the trace has, other than the client's (which is not exported). */
function danglingParents(spans: ReceivedSpan[], clientSpanId: string): string[] {
  const ids = new Set(spans.map((s) => s.spanId));
  return spans
    .filter((s) => s.parentSpanId && s.parentSpanId !== clientSpanId && !ids.has(s.parentSpanId))
    .map((s) => `${s.service} ${s.name} → ${s.parentSpanId}`);
}

const logLines = (output: string): Array<Record<string, unknown>> =>
  output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
