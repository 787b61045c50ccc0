/**
 * The peer process of bench/worker-runner-overhead: what the gpu-worker does per attempt, minus the warm
 * runner. A BullMQ Worker (concurrency 1, like an actor) leases attempts from its own queue, parses the
 * payload, checks the cancelled marker, and reports `started` and `succeeded` through the gpu-worker's own
 * AttemptReporter/ReportSink (XADD {sy}:reports, the same format); the no-op task runs in this process.
 * Forked by the benchmark with the Redis URL and queue name as arguments; says `ready` over IPC.
 */
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { BULLMQ_PREFIX, cancelledJobKey, NodeAttemptPayload, parseContract } from '#libs/contracts';
import { AttemptReporter } from '../../apps/gpu-worker/src/actor/attempt-reporter.js';
import { payloadRef } from '../../apps/gpu-worker/src/actor/node-payload.js';
import { ReportSink } from '../../apps/gpu-worker/src/actor/report-sink.js';

const [url, queueName] = process.argv.slice(2) as [string, string];
const command = new Redis(url, { maxRetriesPerRequest: null });
const blocking = new Redis(url, { maxRetriesPerRequest: null });
const sink = new ReportSink(command, { retryWindowMs: 10_000 });
const workerId = `bench-peer-${process.pid}`;

async function processAttempt(job: Job): Promise<void> {
  const payload = parseContract(NodeAttemptPayload, 'NodeAttemptPayload', job.data);
  const reporter = new AttemptReporter(sink, payloadRef(payload), workerId, (e) => {
    console.error(`peer: report undeliverable: ${e.message}`);
  });
  if (await command.exists(cancelledJobKey(payload.jobId))) {
    await reporter.failed({ code: 'CANCELLED', message: 'cancelled', retryable: false });
    return;
  }
  await reporter.started(`${workerId}/cpu0`);
  await reporter.succeeded({ sleptMs: 0 }, []); // test.sleep {ms: 0}, run right here
}

const worker = new Worker(queueName, processAttempt, {
  connection: blocking,
  prefix: BULLMQ_PREFIX,
  concurrency: 1,
  maxStalledCount: 1,
});
worker.on('error', (e) => console.error(`peer worker error: ${e.message}`));
worker.on('failed', (job, e) => console.error(`peer attempt ${job?.id} failed: ${e.message}`));
await worker.waitUntilReady();
process.send!({ type: 'ready' });
process.once('disconnect', () => {
  void worker
    .close()
    .then(() => Promise.all([command.quit(), blocking.quit()]))
    .finally(() => process.exit(0));
});
