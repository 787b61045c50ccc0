import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { startRedis, type RedisHandle } from '#libs/testing';
import { startCore, type CoreHarness } from '../../test/harness.js';
import { diamond, waitForJob } from '../../test/scenario.js';
import { TEST_TASKS } from '../../test/test-tasks.js';
import { TestWorker } from '../../test/test-worker.js';
import { JOB_VIEW_SCRIPTS, JobReadRecord, NodeReadRecord, readJobViews } from './job-views.js';
import type { JobView } from './job-record.js';

/** Commands the server ran since the last reset, by name (INFO commandstats). */
async function commandCounts(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** The fields of `record` that `keys` names (absent ones left out). */
const only = (record: object, keys: readonly string[]) =>
  Object.fromEntries(Object.entries(record).filter(([k, v]) => keys.includes(k) && v !== undefined));

/** What the API shows of a full view: the read records' fields only. */
const shown = (v: JobView) => ({
  job: only(v.job, Object.keys(JobReadRecord.shape)),
  nodes: v.nodes.map((n) => only(n, Object.keys(NodeReadRecord.shape))),
});

describe('readJobViews: what the API shows of many jobs, in one round trip', () => {
  let server: RedisHandle;
  let core: CoreHarness;
  let worker: TestWorker;
  let reader: Redis;

  beforeAll(async () => {
    server = await startRedis();
    core = await startCore(server.url);
    reader = new Redis(server.url); // its own connection: the scheduler's commands are not counted with ours
    worker = await new TestWorker({
      url: server.url,
      tasks: [TEST_TASKS.emit, TEST_TASKS.add, TEST_TASKS.join],
      handlers: {
        'test.emit': async (p) => ({ value: p.inputs.value as number }),
        'test.add': async (p) => ({ sum: (p.inputs.a as number) + (p.inputs.b as number) }),
        'test.join': async (p) => ({ total: (p.inputs.left as number) + (p.inputs.right as number) }),
      },
    }).start();
    await JOB_VIEW_SCRIPTS.loadAll(reader);
  });
  afterAll(async () => {
    await worker?.stop();
    reader?.disconnect();
    await core?.close();
    await server?.stop();
  });

  it("reads jobs with their nodes exactly as the full view has them, and another tenant's as missing", async () => {
    const done = [];
    for (let i = 0; i < 5; i++) {
      const { job } = await core.service.submitJob('acme', { ...diamond(i), labels: { i } });
      done.push(await waitForJob(core, 'acme', job.id, (v) => v.job.status === 'SUCCEEDED'));
    }
    const theirs = await core.service.submitJob('globex', diamond(9));
    await waitForJob(core, 'globex', theirs.job.id, (v) => v.job.status === 'SUCCEEDED');
    const ids = [...done.map((v) => v.job.id), theirs.job.id, 'no-such-job'];

    await reader.config('RESETSTAT');
    const sent = jest.spyOn(reader, 'sendCommand');
    const views = await readJobViews(reader, 'acme', ids);
    const roundTrips = sent.mock.calls.map(([c]) => c.name);
    sent.mockRestore();
    const counts = await commandCounts(reader);

    expect(views).toEqual([...done.map(shown), null, null]);
    expect(views[0]!.nodes.map((n) => n.id)).toEqual(['A', 'B', 'C', 'D']);
    expect(views[0]!.nodes[3]!.outputs).toEqual({ total: 0 + 10 + 0 + 100 });
    expect(views[0]!.job.labels).toEqual({ i: 0 });
    // a node's inputs and output schema stay in Redis
    expect(Object.keys(views[0]!.nodes[0]!)).not.toContain('inputs');
    expect(Object.keys(views[0]!.nodes[0]!)).not.toContain('outputSchema');
    // 7 jobs, 5 of them acme's with 4 nodes each: one script; the other tenant's job is read, not its nodes
    expect(roundTrips).toEqual(['evalsha']);
    expect(counts.hmget).toBe(7 + 5 * 4);
    expect(counts.hgetall).toBeUndefined();

    // the other tenant sees its own job and nothing of acme's
    const theirViews = await readJobViews(reader, 'globex', ids);
    expect(theirViews.map((v) => v?.job.id ?? null)).toEqual([
      null,
      null,
      null,
      null,
      null,
      theirs.job.id,
      null,
    ]);
  });

  it('the GraphQL job and jobs answers come from the same read', async () => {
    const { job } = await core.service.submitJob('acme', diamond(3));
    const full = await waitForJob(core, 'acme', job.id, (v) => v.job.status === 'SUCCEEDED');
    expect(await core.service.jobsByIds('acme', [job.id])).toEqual([shown(full)]);
    const page = await core.service.jobs('acme', {}, 1);
    expect(page.jobs.map((j) => j.view)).toEqual([shown(full)]);
    expect(await core.service.jobsByIds('globex', [job.id])).toEqual([null]);
  });
});
