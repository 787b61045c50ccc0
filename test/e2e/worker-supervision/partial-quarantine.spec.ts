import { chmodSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { WorkerManifest } from '#libs/contracts';
import { tempDir, waitFor } from '#libs/testing';
import { CapabilityCatalog } from '../../../apps/jobs-subgraph/src/registry/capability-catalog.js';
import type { SchedulerStandIn } from '../worker-support/scheduler-stand-in.js';
import type { WorkerHandle } from '../worker-support/start-worker.js';
import { workerFixture, type WorkerFixture } from '../worker-support/worker-fixture.js';

const BAD_GPU = 'GPU-a1b2c3d4-0001-4000-8000-000000000001';

// A worker with two GPUs (a stand-in nvidia-smi) and a CPU actor, whose GPU 1 runner can never boot: that actor
// is quarantined and the worker reports not-ready (DESIGN), but it still accepts work, and the jobs subgraph's
// catalog offers its tasks on the other actors. Before, the catalog went by `ready` and left all of it out (its
// GPU 0 and CPU actors idle).
describe('worker: one quarantined actor among several', () => {
  let sched: SchedulerStandIn;
  let worker: WorkerHandle;
  let fixture: WorkerFixture | undefined;
  const dir = tempDir('partial-quarantine');

  beforeAll(async () => {
    const smi = join(dir, 'nvidia-smi');
    writeFileSync(
      smi,
      [
        '#!/bin/sh',
        'case "$1" in --query-gpu=*)',
        '  echo "0, GPU-a1b2c3d4-0000-4000-8000-000000000000, NVIDIA H200, 143771, 560.35.03"',
        `  echo "1, ${BAD_GPU}, NVIDIA H200, 143771, 560.35.03";;`,
        '*) echo "| NVIDIA-SMI 560.35.03   Driver Version: 560.35.03   CUDA Version: 12.6 |";;',
        'esac',
        '',
      ].join('\n'),
    );
    chmodSync(smi, 0o755);
    // the runner entry of every actor: the one pinned to the bad GPU dies during boot (the actor's own fault)
    const entry = join(dir, 'runner-entry.mjs');
    const real = resolve('dist/apps/gpu-worker/src/runner/runner-main.js');
    writeFileSync(
      entry,
      `if (process.env.CUDA_VISIBLE_DEVICES === '${BAD_GPU}') process.exit(3);\n` +
        `await import(${JSON.stringify(real)});\n`,
    );
    fixture = await workerFixture(
      'w-partq',
      {
        WORKER_NVIDIA_SMI: smi,
        WORKER_RUNNER_ENTRY: entry,
        WORKER_CPU_ACTORS: '1',
        WORKER_RESTART_INTENSITY: '1',
        ACTOR_QUARANTINE_COOLDOWN_MS: '600000',
      },
      { waitReady: false },
    );
    ({ sched, worker } = fixture);
  });
  afterAll(() => fixture?.stop());

  it('is not ready, yet accepting: the catalog still offers its GPU and CPU tasks', async () => {
    const m: WorkerManifest = await waitFor(
      async () => {
        const man = await sched.manifest('w-partq');
        const bad = man?.actors.find((a) => a.id === 'w-partq/gpu1');
        const others = man?.actors.filter((a) => a !== bad) ?? [];
        // the actors settle while the worker still starts: the manifest says so (accepting false) until the
        // worker's own RUNNING republishes it a moment later
        return bad?.state === 'QUARANTINED' && others.every((a) => a.state === 'IDLE') && man?.accepting
          ? man
          : null;
      },
      { timeoutMs: 60_000, what: 'GPU 1 quarantined, the other actors idle, accepting', logs: worker.logs },
    );
    expect(m.actors.map((a) => [a.id, a.resourceClass, a.state])).toEqual([
      ['w-partq/gpu0', 'gpu', 'IDLE'],
      ['w-partq/gpu1', 'gpu', 'QUARANTINED'],
      ['w-partq/cpu0', 'cpu', 'IDLE'],
    ]);
    expect(m.actors[1]!.quarantine?.reason).toMatch(/exited during boot/);
    expect(m).toMatchObject({ ready: false, accepting: true });
    const health = await fetch(`${worker.url}/health/ready`);
    expect(health.status).toBe(503);
    expect(await health.text()).toMatch(/quarantined actors: w-partq\/gpu1/);

    const catalog = new CapabilityCatalog([m]);
    expect(catalog.has('gpu.probe')).toBe(true); // GPU 0 runs it
    expect(catalog.has('test.sleep')).toBe(true);
    expect(catalog.loads().get('gpu.probe')).toEqual({ backlog: false });

    // the good actors lease and run work meanwhile
    const job = await sched.enqueue('test.sleep', { ms: 10 });
    await sched.waitReport({ jobId: job.jobId, type: 'succeeded' }, 20_000, worker.logs);
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    expect(metrics).toMatch(
      /switchyard_worker_actor_state\{[^}]*actor="w-partq\/gpu1"[^}]*state="QUARANTINED"[^}]*\} 1/,
    );
    expect(worker.logs()).toMatch(/actor quarantined; worker not ready, serving on with its other actors/);
  });
});
