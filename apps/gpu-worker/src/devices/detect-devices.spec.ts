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

  // Every failure of nvidia-smi means CPU only, with the reason said.
  it.each<[string, (dir: string) => string, number | undefined, RegExp]>([
    ['is absent', (d) => join(d, 'missing-nvidia-smi'), undefined, /not found/],
    [
      'fails with the driver',
      (d) => fakeNvidiaSmi(d, `cat '${fixture('error-driver.txt')}'; exit 9`),
      undefined,
      /couldn't communicate with the NVIDIA driver/,
    ],
    [
      'prints garbage with exit 0',
      (d) => fakeNvidiaSmi(d, `cat '${fixture('error-no-devices.txt')}'`),
      undefined,
      /expected 5 columns/,
    ],
    ['hangs', (d) => fakeNvidiaSmi(d, 'sleep 5'), 300, /failed/],
  ])('runs CPU only when nvidia-smi %s', async (_what, command, timeoutMs, reason) => {
    const result = await detectDevices({
      command: command(dir),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    expect(result.devices).toEqual([]);
    expect(result.reason).toMatch(reason);
  });

  it('finds no GPU on this machine without nvidia-smi or with it, without throwing', async () => {
    const { devices } = await detectDevices();
    expect(Array.isArray(devices)).toBe(true);
  });
});
