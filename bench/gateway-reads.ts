/**
 * A page of jobs (PAGE_SIZE, 20) with their nodes and artifacts, read through our gateway and through a plain
 * @apollo/gateway over the same subgraphs (same supergraph file, same run, alternating rounds), with
 * `BENCH_CONNECTIONS` keep-alive connections in a closed loop. Prints req/s, p50/p99, CPU ms per request
 * of each process and Redis commands per request, medians and ours/peer; exits 1 on any GraphQL error or
 * when both gateways do not answer the same page identically. Run after `npm run build`:
 * `node dist/bench/gateway-reads.js` (env: see bench/README.md, "gateway-reads").
 */
import { cpus, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '#libs/local-stack';
import { launchStack, type LaunchedStack } from './stack-support/launched-stack.js';
import { GraphqlHttp } from './support/graphql-http.js';
import { ratio } from './support/stats.js';
import { runLoad } from './reads-support/load-loop.js';
import { NODES_PER_JOB_READ, PAGE_QUERY, PAGE_SIZE, type PageAnswer } from './reads-support/page-query.js';
import { DEFAULT_SUPERGRAPH, startPlainGateway, type PlainGateway } from './reads-support/plain-gateway.js';
import { cpuSnapshot } from './support/process-cpu.js';
import {
  medianRound,
  renderReadsTable,
  roundResult,
  type RoundResult,
} from './reads-support/reads-report.js';
import { seedJobsWithArtifacts } from './reads-support/seed-jobs.js';

const env = process.env;
const JOBS = Number(env.BENCH_READS_JOBS ?? 200);
const NODES_PER_JOB = Number(env.BENCH_READS_NODES_PER_JOB ?? 3);
// the page reads `nodes(first: NODES_PER_JOB_READ)`: a job with more would be read in part
if (NODES_PER_JOB > NODES_PER_JOB_READ)
  throw new Error(
    `BENCH_READS_NODES_PER_JOB is at most ${NODES_PER_JOB_READ} (the page query's nodes(first:))`,
  );
const CONNECTIONS = Number(env.BENCH_READS_CONNECTIONS ?? 50);
const SECONDS = Number(env.BENCH_READS_SECONDS ?? 10);
const WARMUP_SECONDS = Number(env.BENCH_READS_WARMUP_SECONDS ?? 3);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const IDENTITY_SECRET = 'bench-reads-identity-secret-0123456789abcdef';
const step = (what: string) => console.error(`[gateway-reads] ${what}`);

/** redis-server's own CPU (INFO cpu: user + sys of all its threads), ms. */
async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

async function redisCommands(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/calls=(\d+)/g)) calls += Number(m[1]);
  return calls;
}

/** The cursors of every full page of SUCCEEDED jobs (null: the first page), read through `client`. */
async function pageCursors(client: GraphqlHttp): Promise<Array<string | null>> {
  const cursors: Array<string | null> = [null];
  for (;;) {
    const { jobs } = await client.data<PageAnswer>(PAGE_QUERY, { after: cursors.at(-1) });
    if (!jobs.pageInfo.hasNextPage || !jobs.pageInfo.endCursor) return cursors;
    cursors.push(jobs.pageInfo.endCursor);
  }
}

async function main(): Promise<number> {
  let stack: LaunchedStack | undefined;
  let plain: PlainGateway | undefined;
  let redis: Redis | undefined;
  try {
    step('starting the stack (npm start)');
    stack = await launchStack({
      LOG_LEVEL: 'warn',
      SWITCHYARD_IDENTITY_SECRET: IDENTITY_SECRET,
      // the benchmark measures reads, not the per-key token bucket
      RATE_LIMIT_PER_MINUTE: '100000000',
      RATE_LIMIT_BURST: '10000000',
      WORKER_CPU_ACTORS: env.WORKER_CPU_ACTORS ?? '2',
    });
    step(`stack ready in ${(stack.readyMs / 1000).toFixed(1)} s`);
    const headers = { authorization: `Bearer ${stack.key}` };
    const ours = new GraphqlHttp(stack.url, headers, 8);
    // the peer starts while the jobs run
    const plainStarting = startPlainGateway({
      port: await freePort(),
      jobsUrl: `http://127.0.0.1:${stack.ports.jobs}/graphql`,
      artifactsUrl: `http://127.0.0.1:${stack.ports.artifacts}/graphql`,
      identitySecret: IDENTITY_SECRET,
      tenant: 'dev',
      supergraphPath: DEFAULT_SUPERGRAPH,
    });
    plainStarting.catch(() => undefined); // awaited below
    const seeded = await seedJobsWithArtifacts(ours, {
      jobs: JOBS,
      nodesPerJob: NODES_PER_JOB,
      log: step,
    });
    plain = await plainStarting;
    const peerClient = new GraphqlHttp(plain.url, {}, 8);

    // both gateways must answer every page identically, with every node and artifact of each job
    const cursors = await pageCursors(ours);
    for (const after of cursors) {
      const [a, b] = await Promise.all([
        ours.data<PageAnswer>(PAGE_QUERY, { after }),
        peerClient.data<PageAnswer>(PAGE_QUERY, { after }),
      ]);
      if (!isDeepStrictEqual(a, b))
        throw new Error(`the two gateways answered page after ${after} differently`);
      for (const { node } of a.jobs.edges) {
        if (node.nodes.length !== NODES_PER_JOB || node.artifacts.length !== NODES_PER_JOB)
          throw new Error(`job ${node.id}: ${node.nodes.length} nodes, ${node.artifacts.length} artifacts`);
        if (node.artifacts.some((x) => x.jobId !== node.id))
          throw new Error(`job ${node.id}: foreign artifact`);
      }
    }
    ours.close();
    peerClient.close();
    step(
      `${seeded.length} jobs seeded; ${cursors.length} pages of ${PAGE_SIZE}, both gateways answer them identically`,
    );

    redis = new Redis(stack.redisUrl);
    const pids = stack.pids();
    step(`pids: ${JSON.stringify({ ...pids, 'plain-gateway': plain.pid, bench: process.pid })}`);
    const targets = {
      peer: { url: plain.url, headers: {}, gatewayPid: plain.pid },
      ours: { url: stack.url, headers, gatewayPid: pids.gateway! },
    };
    const measure = async (which: 'peer' | 'ours', seconds: number): Promise<RoundResult> => {
      const t = targets[which];
      const cpu = cpuSnapshot({
        gateway: t.gatewayPid,
        'jobs-subgraph': pids['jobs-subgraph']!,
        'artifacts-subgraph': pids['artifacts-subgraph']!,
        'load generator': process.pid,
      });
      const commandsBefore = await redisCommands(redis!);
      const redisCpuBefore = await redisCpuMs(redis!);
      const load = await runLoad({
        url: t.url,
        headers: t.headers,
        query: PAGE_QUERY,
        variables: (i) => ({ after: cursors[i % cursors.length] }),
        connections: CONNECTIONS,
        seconds,
      });
      const redisCpu = (await redisCpuMs(redis!)) - redisCpuBefore;
      const commands = (await redisCommands(redis!)) - commandsBefore - 2; // less the two INFOs
      if (load.failures > 0)
        throw new Error(
          `${which}: ${load.failures} of ${load.requests} requests failed:\n${load.firstFailures.join('\n')}`,
        );
      return roundResult(load, { ...cpu.since(), redis: redisCpu }, commands);
    };

    step(`warm-up: ${WARMUP_SECONDS} s each`);
    await measure('peer', WARMUP_SECONDS);
    await measure('ours', WARMUP_SECONDS);
    const peerRounds: RoundResult[] = [];
    const ourRounds: RoundResult[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      peerRounds.push(await measure('peer', SECONDS));
      ourRounds.push(await measure('ours', SECONDS));
      step(
        `round ${r}: peer ${peerRounds.at(-1)!.reqPerSecond.toFixed(0)} req/s, ours ${ourRounds.at(-1)!.reqPerSecond.toFixed(0)} req/s`,
      );
    }

    const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
    const load = execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
    console.log(
      `Reads through the gateway: a page of ${PAGE_SIZE} jobs with nodes and artifacts — ${new Date().toISOString()}`,
    );
    console.log(
      `machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, redis-server ${redisVersion}, load average ${load}`,
    );
    console.log(
      `${JOBS} jobs × ${NODES_PER_JOB} image.resize nodes (one artifact each), pages of ${PAGE_SIZE} SUCCEEDED jobs rotated over ${cursors.length} cursors; ${CONNECTIONS} keep-alive connections, ${SECONDS} s per round, ${ROUNDS} rounds (peer then ours), ${WARMUP_SECONDS} s warm-up each; medians`,
    );
    console.log('');
    console.log(renderReadsTable(medianRound(peerRounds), medianRound(ourRounds)));
    console.log('');
    console.log(
      `throughput ours/peer per round: ${ourRounds.map((o, i) => ratio(o.reqPerSecond, peerRounds[i]!.reqPerSecond)).join(', ')}`,
    );
    return 0;
  } finally {
    redis?.disconnect();
    await plain?.stop();
    await stack?.stop();
  }
}

process.once('SIGINT', () => process.exit(130));
main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`[gateway-reads] FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
