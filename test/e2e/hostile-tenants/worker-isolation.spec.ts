import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRedis, tempDir, testCommandTaskUidBase, waitFor, type RedisHandle } from '#libs/testing';
import { SchedulerStandIn } from '../worker-support/scheduler-stand-in.js';
import { startWorker, type WorkerHandle } from '../worker-support/start-worker.js';

// Task code cannot reach the platform's secrets: runners and command tasks start with an allow-listed
// environment, and (the worker running as root, as here) command tasks run as an unprivileged uid per
// actor, so one attempt cannot read the worker's environment or another attempt's scratch directory.
const asRoot = process.getuid?.() === 0;
const SECRETS = {
  SWITCHYARD_IDENTITY_SECRET: 'the-worker-must-not-have-this-0123456789',
  S3_ACCESS_KEY: 'isolation-access-key',
  S3_SECRET_KEY: 'isolation-secret-key',
};

// The command an operator declared; a hostile tenant chooses its inputs.
const PROBE = `
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
const input = JSON.parse(readFileSync(process.env.SWITCHYARD_INPUT_FILE, 'utf8'));
console.log('UID ' + process.getuid());
if (input.mode === 'hold') {
  writeFileSync(process.env.TMPDIR + '/secret.txt', 'attempt-a-secret');
  console.log(JSON.stringify({ progress: 0.5, message: 'scratch=' + process.env.TMPDIR }));
  await new Promise((r) => setTimeout(r, input.holdMs));
} else {
  for (const t of input.targets ?? []) {
    try {
      const data = statSync(t).isDirectory() ? readdirSync(t).join(',') : readFileSync(t, 'utf8');
      console.log('READ ' + t + ' ' + data.slice(0, 200));
    } catch (e) {
      console.log('DENIED ' + t + ' ' + e.code);
    }
  }
  console.log('ENV ' + Object.keys(process.env).sort().join(','));
}
`;

(asRoot ? describe : describe.skip)('worker: task code cannot reach secrets or other attempts', () => {
  let redis: RedisHandle;
  let sched: SchedulerStandIn;
  let worker: WorkerHandle;
  const dir = tempDir('worker-isolation');
  const dataDir = join(dir, 'data');
  const tools = join(dir, 'tools');

  beforeAll(async () => {
    // The scratch root must be reachable (traverse only) by the task uids; tools readable by them.
    chmodSync(dir, 0o711);
    mkdirSync(dataDir, { mode: 0o711 });
    mkdirSync(tools, { mode: 0o755 });
    writeFileSync(join(tools, 'probe.mjs'), PROBE, { mode: 0o644 });
    const tasksFile = join(tools, 'tasks.json');
    writeFileSync(
      tasksFile,
      JSON.stringify({
        tasks: [
          {
            name: 'ops.probe',
            version: '1.0.0',
            argv: [process.execPath, join(tools, 'probe.mjs')],
            input: {
              type: 'object',
              properties: {
                mode: { type: 'string', enum: ['hold', 'probe'] },
                holdMs: { type: 'integer', minimum: 0, maximum: 60000 },
                targets: { type: 'array', items: { type: 'string', maxLength: 500 }, maxItems: 8 },
              },
              required: ['mode'],
            },
            resources: { gpu: 0, vramGb: 0, cpu: 1 },
            timeoutMs: 60000,
            attempts: 1,
          },
        ],
      }),
    );
    redis = await startRedis();
    sched = new SchedulerStandIn(redis.url);
    worker = await startWorker('w-iso', {
      REDIS_URL: redis.url,
      SWITCHYARD_DATA_DIR: dataDir,
      WORKER_CPU_ACTORS: '2',
      WORKER_COMMAND_TASKS_FILE: tasksFile,
      ...SECRETS,
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await sched?.close();
    await redis?.stop();
  });

  const lines = async (jobId: string) =>
    (await sched.reports({ jobId }))
      .map((r) => ('message' in r ? r.message : undefined))
      .filter((m): m is string => typeof m === 'string');

  it('runners hold no credentials; a command task sees neither the worker environment nor another attempt', async () => {
    // the runners' own environment (read from outside, as root): an allow-list without credentials
    const children = readFileSync(`/proc/${worker.pid}/task/${worker.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    expect(children.length).toBeGreaterThanOrEqual(2);
    for (const pid of children) {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      for (const [k, v] of Object.entries(SECRETS)) {
        expect(environ).not.toContain(k);
        expect(environ).not.toContain(v);
      }
      expect(environ).not.toContain('REDIS_URL');
    }

    // attempt A holds a secret in its scratch directory (on one actor)...
    const a = await sched.enqueue('ops.probe', { mode: 'hold', holdMs: 15000 }, { tenant: 'alice' });
    const scratch = await waitFor(
      async () => (await lines(a.jobId)).find((m) => m.startsWith('scratch='))?.slice('scratch='.length),
      { timeoutMs: 20_000, what: "A's scratch dir", logs: worker.logs },
    );
    // ...while attempt B of another tenant runs on the other actor and goes looking
    const workerEnviron = `/proc/${worker.pid}/environ`;
    const b = await sched.enqueue(
      'ops.probe',
      { mode: 'probe', targets: [join(scratch, 'secret.txt'), scratch, workerEnviron, join(scratch, '..')] },
      { tenant: 'mallory' },
    );
    await sched.waitReport({ jobId: b.jobId, type: 'succeeded' }, 20_000, worker.logs);
    const seen = await lines(b.jobId);
    expect(seen.filter((l) => l.startsWith('READ'))).toEqual([]);
    expect(seen).toEqual(
      expect.arrayContaining([
        `DENIED ${join(scratch, 'secret.txt')} EACCES`,
        `DENIED ${scratch} EACCES`,
        `DENIED ${workerEnviron} EACCES`,
        `DENIED ${join(scratch, '..')} EACCES`,
      ]),
    );
    const env = seen
      .find((l) => l.startsWith('ENV '))!
      .slice(4)
      .split(',');
    for (const k of [...Object.keys(SECRETS), 'REDIS_URL', 'S3_ENDPOINT']) expect(env).not.toContain(k);
    const uidA = Number((await lines(a.jobId)).find((l) => l.startsWith('UID '))!.slice(4));
    const uidB = Number(seen.find((l) => l.startsWith('UID '))!.slice(4));
    expect(uidA).toBeGreaterThan(0);
    expect(uidB).toBeGreaterThan(0);
    expect(uidA).not.toBe(uidB);
    // this test run's uids (the harness's COMMAND_TASK_UID_BASE), not 61000 + slot: another run's clean-up
    // on this machine would kill these commands
    const base = testCommandTaskUidBase();
    expect([uidA, uidB].sort((x, y) => x - y)).toEqual([base, base + 1]);
    await sched.waitReport({ jobId: a.jobId, type: 'succeeded' }, 30_000, worker.logs);
  }, 90_000);
});
