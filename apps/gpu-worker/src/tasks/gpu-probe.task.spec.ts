import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalTaskContext, runTask, TaskError } from '#libs/task-sdk';
import { gpuProbe, gpuProbeTask } from './gpu-probe.task.js';

const fixture = (name: string) => fileURLToPath(new URL(`../devices/fixtures/${name}`, import.meta.url));

describe('gpu.probe', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sy-probe-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('asks for a GPU in its manifest', () => {
    expect(gpuProbe.manifest().resources.gpu).toBe(1);
  });

  it('fails without retry on a CPU actor', async () => {
    const ctx = await createLocalTaskContext({ rootDir: dir });
    const err = await runTask(gpuProbe, {}, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ code: 'TASK_FAILED', retryable: false });
  });

  it('re-reads the actor GPU from nvidia-smi (recorded 8x H200 output)', async () => {
    // a real executable printing what nvidia-smi printed on an 8x H200 machine
    const smi = join(dir, 'nvidia-smi');
    writeFileSync(
      smi,
      `#!/bin/sh\ncase "$1" in --query-gpu=*) cat '${fixture('query-8x-h200.csv')}';; *) cat '${fixture('header-h200.txt')}';; esac\n`,
    );
    chmodSync(smi, 0o755);
    const probe = gpuProbeTask({ nvidiaSmi: smi });
    const ctx = await createLocalTaskContext({
      rootDir: dir,
      device: { kind: 'GPU', index: 3, name: 'told' },
    });
    const out = await runTask(probe, {}, ctx);
    expect(out).toMatchObject({
      kind: 'GPU',
      index: 3,
      name: 'NVIDIA H200',
      cudaVersion: '12.4',
      memoryMb: 143771,
    });
    expect(out.uuid).toMatch(/^GPU-/);

    const missing = await createLocalTaskContext({
      rootDir: dir,
      device: { kind: 'GPU', index: 0, name: 'x', uuid: 'GPU-nope' },
    });
    await expect(runTask(probe, {}, missing)).rejects.toMatchObject({
      code: 'TASK_FAILED',
      retryable: false,
    });
  });
});
