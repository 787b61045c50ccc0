import { createHash, randomBytes } from 'node:crypto';
import { Sha256, sha256OfFile } from './sha256.js';

describe('browser sha256', () => {
  it.each([0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003])(
    'matches node:crypto for %i bytes fed in odd chunks',
    (n) => {
      const bytes = randomBytes(n);
      const hash = new Sha256();
      for (let i = 0; i < n; i += 37) hash.update(bytes.subarray(i, i + 37));
      expect(hash.hex()).toBe(createHash('sha256').update(bytes).digest('hex'));
    },
  );

  it('hashes a Blob in chunks and reports progress up to 1', async () => {
    const bytes = randomBytes(9 * 1024 * 1024 + 5); // three 4 MiB chunks
    const seen: number[] = [];
    const hex = await sha256OfFile(new Blob([bytes]), (f) => seen.push(f));
    expect(hex).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(seen.at(-1)).toBe(1);
    expect(seen.length).toBeGreaterThanOrEqual(3);
  });
});
