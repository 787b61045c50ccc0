import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'graphql';
import { REPO_ROOT } from '#libs/testing';
import { ByteLruCache } from './plan-cache.js';
import { SupergraphRuntime } from './supergraph-runtime.js';

describe('ByteLruCache', () => {
  it('keeps at most its bytes, evicting the least recently used first', () => {
    const c = new ByteLruCache<string>(100);
    c.set('a', 'A', 40);
    c.set('b', 'B', 40);
    expect(c.get('a')).toBe('A'); // a is now the most recent
    c.set('c', 'C', 40); // 120 > 100: b goes
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe('A');
    expect(c.get('c')).toBe('C');
    expect(c.bytes).toBe(80);
    c.set('huge', 'H', 101); // larger than the whole cache: not kept, nothing evicted
    expect(c.get('huge')).toBeUndefined();
    expect(c.size).toBe(2);
    c.set('a', 'A2', 10); // replacing an entry counts its new size only
    expect(c.bytes).toBe(50);
  });

  it('keys by a fixed-size hash of the parts, without ambiguity between parts', () => {
    const k = ByteLruCache.key('op', 'x'.repeat(100_000));
    expect(k).toHaveLength(43);
    expect(ByteLruCache.key('a', 'bc')).not.toBe(ByteLruCache.key('ab', 'c'));
  });
});

describe('subscription plan cache', () => {
  const sdl = readFileSync(join(REPO_ROOT, 'graphql/supergraph.graphql'), 'utf8');

  it('stays within its byte bound however many distinct documents are planned, and reuses plans', () => {
    const runtime = new SupergraphRuntime(sdl, 20_000);
    for (let i = 0; i < 200; i++) {
      const text = `subscription S${i} { e${i}: jobEvents(jobId: "j${i}") { seq type job { status } } }`;
      runtime.planSubscription(parse(text), text, `S${i}`);
      expect(runtime.planCache.bytes).toBeLessThanOrEqual(20_000);
    }
    expect(runtime.planCache.size).toBeGreaterThan(1);
    expect(runtime.planCache.size).toBeLessThan(200);
    const text = 'subscription { jobEvents(jobId: "j") { seq } }';
    const first = runtime.planSubscription(parse(text), text);
    expect(runtime.planSubscription(parse(text), text)).toBe(first);
  });
});
