import { readFileSync } from 'node:fs';
import { NvidiaSmiParseError, parseCudaVersion, parseGpuQuery } from './parse-nvidia-smi.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('parseGpuQuery', () => {
  it('parses one H200 with its CUDA version', () => {
    const devices = parseGpuQuery(fixture('query-1x-h200.csv'), parseCudaVersion(fixture('header-h200.txt')));
    expect(devices).toEqual([
      {
        index: 0,
        kind: 'GPU',
        name: 'NVIDIA H200',
        uuid: 'GPU-5c1f7a3e-9b2d-4e61-8f0a-2d7c3b9e1a44',
        memoryMb: 143771,
        driverVersion: '550.90.07',
        cudaVersion: '12.4',
      },
    ]);
  });

  it('parses eight A100s in index order', () => {
    const devices = parseGpuQuery(fixture('query-8x-a100.csv'), parseCudaVersion(fixture('header-a100.txt')));
    expect(devices.map((d) => d.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(devices.map((d) => d.uuid)).size).toBe(8);
    expect(devices[7]).toMatchObject({ name: 'NVIDIA A100-SXM4-80GB', memoryMb: 81920, cudaVersion: '12.2' });
  });

  it('parses eight H200s', () => {
    const devices = parseGpuQuery(fixture('query-8x-h200.csv'));
    expect(devices).toHaveLength(8);
    expect(devices.every((d) => d.name === 'NVIDIA H200' && d.cudaVersion === undefined)).toBe(true);
  });

  it('sorts by index and leaves out [N/A] fields', () => {
    const devices = parseGpuQuery(
      '1, [N/A], NVIDIA H200 MIG 1g.18gb, [N/A], 550.90.07\n0, GPU-x, NVIDIA H200, 143771, [Not Supported]\n',
    );
    expect(devices.map((d) => d.index)).toEqual([0, 1]);
    expect(devices[0]!.driverVersion).toBeUndefined();
    expect(devices[1]!.uuid).toBeUndefined();
    expect(devices[1]!.memoryMb).toBeUndefined();
  });

  it('reads empty output as no GPU', () => {
    expect(parseGpuQuery('')).toEqual([]);
    expect(parseGpuQuery('\n\n')).toEqual([]);
  });

  it('refuses error text instead of inventing devices', () => {
    expect(() => parseGpuQuery(fixture('error-driver.txt'))).toThrow(NvidiaSmiParseError);
    expect(() => parseGpuQuery(fixture('error-no-devices.txt'))).toThrow(NvidiaSmiParseError);
    expect(() => parseGpuQuery('x, GPU-1, NVIDIA H200, 1, 2')).toThrow(/index "x"/);
    expect(() => parseGpuQuery('0, GPU-1, NVIDIA H200, lots, 2')).toThrow(/memory.total/);
  });
});

describe('parseCudaVersion', () => {
  it('reads the header, or nothing', () => {
    expect(parseCudaVersion(fixture('header-h200.txt'))).toBe('12.4');
    expect(parseCudaVersion(fixture('header-a100.txt'))).toBe('12.2');
    expect(parseCudaVersion(fixture('error-driver.txt'))).toBeUndefined();
  });
});
