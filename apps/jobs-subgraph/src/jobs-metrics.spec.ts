import { parseEvictedKeys, parseInfoMemory } from './jobs-metrics.js';

describe('parseInfoMemory', () => {
  it('reads used_memory, maxmemory and maxmemory_policy from INFO memory', () => {
    const info =
      '# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmaxmemory:4194304\r\nmaxmemory_policy:allkeys-lru\r\n';
    expect(parseInfoMemory(info)).toEqual({ used: 1048576, max: 4194304, policy: 'allkeys-lru' });
  });

  it('fails loudly when a size is missing; a missing policy is null (the gauge says "unknown")', () => {
    expect(() => parseInfoMemory('# Memory\r\nused_memory:1\r\n')).toThrow(/maxmemory/);
    expect(parseInfoMemory('used_memory:1\r\nmaxmemory:0\r\n').policy).toBeNull();
  });
});

describe('parseEvictedKeys', () => {
  it('reads evicted_keys from INFO stats, not evicted_clients', () => {
    expect(parseEvictedKeys('# Stats\r\nexpired_keys:3\r\nevicted_keys:42\r\nevicted_clients:0\r\n')).toBe(
      42,
    );
    expect(() => parseEvictedKeys('# Stats\r\nexpired_keys:3\r\n')).toThrow(/evicted_keys/);
  });
});
