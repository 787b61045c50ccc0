import { parseInfoMemory } from './jobs-metrics.js';

describe('parseInfoMemory', () => {
  it('reads used_memory and maxmemory from INFO memory', () => {
    const info = '# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmaxmemory:4194304\r\n';
    expect(parseInfoMemory(info)).toEqual({ used: 1048576, max: 4194304 });
  });

  it('fails loudly when a field is missing', () => {
    expect(() => parseInfoMemory('# Memory\r\nused_memory:1\r\n')).toThrow(/maxmemory/);
  });
});
