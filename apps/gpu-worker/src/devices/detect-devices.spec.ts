import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectDevices } from './detect-devices.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

// A stand-in nvidia-smi: a real executable that prints a recorded output, like the real one would.
function fakeNvidiaSmi(dir: string, script: string): string {
  const path = join(dir, 'nvidia-smi');
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('detectDevices', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sy-smi-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finds 8 GPUs and the CUDA version from a working nvidia-smi', async () => {
    const cmd = fakeNvidiaSmi(
      dir,
      `case "$1" in --query-gpu=*) cat '${fixture('query-8x-h200.csv')}';; *) cat '${fixture('header-h200.txt')}';; esac`,
    );
    const { devices, reason } = await detectDevices({ command: cmd });
    expect(reason).toBeUndefined();
    expect(devices).toHaveLength(8);
    expect(devices[3]).toMatchObject({ index: 3, kind: 'GPU', name: 'NVIDIA H200', cudaVersion: '12.4' });
  });

  it('runs CPU only when nvidia-smi is absent', async () => {
    const { devices, reason } = await detectDevices({ command: join(dir, 'missing-nvidia-smi') });
    expect(devices).toEqual([]);
    expect(reason).toMatch(/not found/);
  });

  it('runs CPU only when the driver fails', async () => {
    const cmd = fakeNvidiaSmi(dir, `cat '${fixture('error-driver.txt')}'; exit 9`);
    const { devices, reason } = await detectDevices({ command: cmd });
    expect(devices).toEqual([]);
    expect(reason).toMatch(/couldn't communicate with the NVIDIA driver/);
  });

  it('runs CPU only when nvidia-smi prints garbage with exit 0', async () => {
    const cmd = fakeNvidiaSmi(dir, `cat '${fixture('error-no-devices.txt')}'`);
    const { devices, reason } = await detectDevices({ command: cmd });
    expect(devices).toEqual([]);
    expect(reason).toMatch(/expected 5 columns/);
  });

  it('gives up on a hung nvidia-smi', async () => {
    const cmd = fakeNvidiaSmi(dir, 'sleep 5');
    const { devices, reason } = await detectDevices({ command: cmd, timeoutMs: 300 });
    expect(devices).toEqual([]);
    expect(reason).toMatch(/failed/);
  });

  it('finds no GPU on this machine without nvidia-smi or with it, without throwing', async () => {
    const { devices } = await detectDevices();
    expect(Array.isArray(devices)).toBe(true);
  });
});
