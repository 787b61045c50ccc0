import { jest } from '@jest/globals';
import {
  ConnectionCredentialWatch,
  type CredentialVerdict,
  type WatchedConnection,
} from './connection-credential-watch.js';

/** A connection whose credential answers `verdict` (changeable) and records how it was closed. */
function connection(keyId: string | undefined, o: { expiresAtMs?: number } = {}) {
  const c = {
    verdict: 'valid' as CredentialVerdict,
    verifications: 0,
    closed: [] as string[],
    watched: undefined as unknown as WatchedConnection,
  };
  c.watched = {
    keyId,
    ...(o.expiresAtMs !== undefined ? { expiresAtMs: o.expiresAtMs } : {}),
    verify: async () => {
      c.verifications++;
      return c.verdict;
    },
    close: (reason) => void c.closed.push(reason),
  };
  return c;
}

const settle = () => new Promise((r) => setImmediate(r));

describe('ConnectionCredentialWatch', () => {
  let watch: ConnectionCredentialWatch;
  afterEach(() => watch.stop());

  it("a revocation re-verifies that key's connections at once (one check for all) and closes them", async () => {
    watch = new ConnectionCredentialWatch({ intervalMs: 60_000 });
    const [a1, a2, b] = [connection('A'), connection('A'), connection('B')];
    for (const c of [a1, a2, b]) watch.add(c.watched);
    a1.verdict = a2.verdict = 'invalid';
    watch.revoked('A');
    await settle();
    expect(a1.verifications + a2.verifications).toBe(1);
    expect([a1.closed, a2.closed, b.closed]).toEqual([['API key revoked'], ['API key revoked'], []]);
    expect(b.verifications).toBe(0);
    expect(watch.size).toBe(1);
  });

  it('keeps connections whose key could not be verified (unknown) or is still valid', async () => {
    watch = new ConnectionCredentialWatch({ intervalMs: 60_000 });
    const [a, b] = [connection('A'), connection('B')];
    watch.add(a.watched);
    watch.add(b.watched);
    a.verdict = 'unknown';
    watch.revoked('A');
    watch.revoked('B');
    await settle();
    expect([a.closed, b.closed]).toEqual([[], []]);
    expect(watch.size).toBe(2);
  });

  // Fake timers: with real ones a loaded CI machine ran the 30 ms interval once in 100 ms and the test failed.
  describe('on a clock', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('re-verifies every key each interval: a revocation whose message was lost closes within it', async () => {
      watch = new ConnectionCredentialWatch({ intervalMs: 30 });
      watch.start();
      const a = connection('A');
      watch.add(a.watched);
      await jest.advanceTimersByTimeAsync(29);
      expect(a.verifications).toBe(0);
      await jest.advanceTimersByTimeAsync(31);
      expect(a.verifications).toBe(2);
      expect(a.closed).toEqual([]);
      a.verdict = 'invalid';
      await jest.advanceTimersByTimeAsync(30);
      expect(a.closed).toEqual(['API key revoked']);
    });

    it('closes a connection at its credential expiry; one removed before is left alone', async () => {
      watch = new ConnectionCredentialWatch({ intervalMs: 60_000 });
      const expiring = connection(undefined, { expiresAtMs: Date.now() + 50 });
      const gone = connection(undefined, { expiresAtMs: Date.now() + 50 });
      watch.add(expiring.watched);
      watch.add(gone.watched);
      watch.delete(gone.watched);
      await jest.advanceTimersByTimeAsync(49);
      expect(expiring.closed).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(expiring.closed).toEqual(['credential expired']);
      expect(gone.closed).toEqual([]);
    });
  });

  it('a connection removed (closed by its client) is no longer verified', async () => {
    watch = new ConnectionCredentialWatch({ intervalMs: 60_000 });
    const a = connection('A');
    watch.add(a.watched);
    watch.delete(a.watched);
    watch.revoked('A');
    await settle();
    expect(a.verifications).toBe(0);
    expect(watch.size).toBe(0);
  });
});
