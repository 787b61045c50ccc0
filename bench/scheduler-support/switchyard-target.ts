import { pino, type Logger } from 'pino';
import { TERMINAL_JOB_EVENTS, type SubmitJobInput } from '#libs/contracts';
import { loadJobsSubgraphConfig } from '../../apps/jobs-subgraph/src/jobs-config.js';
import { JobsRuntime } from '../../apps/jobs-subgraph/src/jobs-runtime.js';
import type { StreamFollower } from '../../apps/jobs-subgraph/src/events/stream-follower.js';
import { CompletionTracker } from '../support/completion-tracker.js';
import { StandInWorker } from './stand-in-worker.js';

const TENANT = 'bench';

/**
 * Ours: the jobs subgraph's runtime exactly as the app builds it (JobsRuntime: planner, scheduler, BullMQ
 * enqueuer, report consumer, leader loops, metrics), driven through JobsService.submitJob — the call the
 * submitJob mutation makes — with a gpu-worker stand-in, and finished jobs seen on the tenant's jobFeed (what a
 * subscriber gets). Only GraphQL/HTTP is left out.
 */
export class SwitchyardTarget {
  readonly tracker: CompletionTracker;

  private constructor(
    private readonly runtime: JobsRuntime,
    private readonly worker: StandInWorker,
    private readonly feed: StreamFollower,
    private readonly feedLoop: Promise<void>,
    tracker: CompletionTracker,
  ) {
    this.tracker = tracker;
  }

  /** `logger`: the app logs at info (a line per submitted and per finished job); it is part of the cost. */
  static async start(
    url: string,
    concurrency: number,
    jobTimeoutMs: number,
    logger: Logger,
  ): Promise<SwitchyardTarget> {
    const config = loadJobsSubgraphConfig({ REDIS_URL: url, NODE_ENV: 'development', LOG_LEVEL: 'info' });
    // development mode: an evicting Redis is an error line, never a refusal
    const runtime = new JobsRuntime(config, logger, (err) => logger.error(err.message));
    // as a deployment would: traffic (and the leader lease) only once the runtime reports ready
    await waitReady(runtime);
    runtime.start();
    const worker = await new StandInWorker(url, concurrency).start();
    const tracker = new CompletionTracker(jobTimeoutMs);
    const feed = await runtime.service.jobFeed(TENANT);
    const feedLoop = (async () => {
      for await (const e of feed) {
        if (e.type === 'JOB_SUCCEEDED') tracker.done(e.jobId);
        else if (TERMINAL_JOB_EVENTS.has(e.type)) tracker.fail(e.jobId, `${e.type}: ${e.message ?? ''}`);
      }
    })();
    return new SwitchyardTarget(runtime, worker, feed, feedLoop, tracker);
  }

  /** A SubmitFn for jobs built by `input`. */
  submitter(input: (i: number) => SubmitJobInput): (i: number) => Promise<string> {
    return async (i) => (await this.runtime.service.submitJob(TENANT, input(i))).job.id;
  }

  /** What the stand-in worker saw go wrong (must be empty for a valid run). */
  get workerProblems(): readonly string[] {
    return this.worker.problems;
  }

  async stop(): Promise<void> {
    await this.feed.return();
    await this.feedLoop.catch(() => undefined);
    await this.worker.stop();
    await this.runtime.stop();
  }
}

async function waitReady(runtime: JobsRuntime, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await Promise.all(runtime.readiness().map((r) => r.check()));
      return;
    } catch (e) {
      if (Date.now() > deadline)
        throw new Error(`the jobs runtime is not ready after ${timeoutMs} ms: ${(e as Error).message}`, {
          cause: e,
        });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A pino logger like the app's, writing to a file (sync, as pino writes stdout) instead of the terminal. */
export function fileLogger(path: string): Logger {
  return pino(
    {
      level: 'info',
      base: { service: 'jobs-subgraph-bench', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: path, sync: true }),
  );
}
