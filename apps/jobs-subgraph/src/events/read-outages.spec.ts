import { jest } from '@jest/globals';
import { DomainError } from '#libs/errors';
import { ReadOutages } from './read-outages.js';

const down = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

describe('ReadOutages', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const setup = () => {
    const lines: Array<[string, string, object]> = [];
    let ended = 0;
    const outages = new ReadOutages({
      isUnavailable: (e) => (e as { code?: string }).code === 'ECONNREFUSED',
      maxOutageMs: 10_000,
      retry: { baseMs: 100, capMs: 1_000 },
      logger: {
        info: (o, m) => void lines.push(['info', m, o]),
        warn: (o, m) => void lines.push(['warn', m, o]),
      },
      metrics: { endedUnavailable: () => ended++ },
    });
    const reader = () => {
      const r = { reads: 0, ended: undefined as DomainError | undefined };
      const handle = outages.reader(
        () => r.reads++,
        (e) => (r.ended = e),
      );
      return Object.assign(r, { handle });
    };
    return { outages, lines, reader, ended: () => ended };
  };

  it('an unavailable read waits and is retried with backoff; a read that goes through ends the wait', () => {
    const { outages, lines, reader } = setup();
    const a = reader();
    expect(a.handle.failed(down)).toBe(true);
    expect(outages.waiting).toBe(1);
    jest.advanceTimersByTime(100); // first retry: 50–100 ms
    expect(a.reads).toBe(1);
    a.handle.failed(down);
    jest.advanceTimersByTime(200);
    expect(a.reads).toBe(2);
    a.handle.succeeded();
    expect(outages.waiting).toBe(0);
    jest.advanceTimersByTime(20_000);
    expect(a.reads).toBe(2);
    expect(a.ended).toBeUndefined();
    expect(lines.map(([level, msg]) => [level, msg])).toEqual([
      ['warn', 'event subscribers: Redis unavailable; they wait for it and read again from where they were'],
      ['info', 'event subscribers: none waits for Redis any more'],
    ]);
  });

  it('not an outage (another error, or a DomainError while Redis is down): the follower ends with it', () => {
    const { outages, reader } = setup();
    const a = reader();
    expect(a.handle.failed(new Error('bad reply'))).toBe(false);
    const trimmed = Object.assign(new DomainError('BAD_USER_INPUT', 'trimmed'), { code: 'ECONNREFUSED' });
    expect(a.handle.failed(trimmed)).toBe(false);
    expect(outages.waiting).toBe(0);
  });

  it('past the bound, every waiting follower ends with UNAVAILABLE; the outage is logged twice in all', () => {
    const { outages, lines, reader, ended } = setup();
    const [a, b] = [reader(), reader()];
    a.handle.failed(down);
    b.handle.failed(down);
    for (let t = 0; t < 9; t++) {
      jest.advanceTimersByTime(1_000);
      a.handle.failed(down);
      b.handle.failed(down);
    }
    expect(a.ended).toBeUndefined();
    jest.advanceTimersByTime(1_000);
    expect(a.ended).toMatchObject({ code: 'UNAVAILABLE' });
    expect(b.ended).toMatchObject({ code: 'UNAVAILABLE' });
    expect(outages.waiting).toBe(0);
    expect(ended()).toBe(2);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual([
      'warn',
      'event subscribers: none waits for Redis any more',
      expect.objectContaining({ readAgain: 0, endedUnavailable: 2 }),
    ]);
  });

  it('the connection dropping makes every live follower read; ready again, only the waiting ones', () => {
    const { outages, reader } = setup();
    const handlers = new Map<string, () => void>();
    outages.watch({ on: (ev: string, fn: () => void) => handlers.set(ev, fn) } as never);
    const [a, b] = [reader(), reader()];
    handlers.get('close')!();
    expect([a.reads, b.reads]).toEqual([1, 1]);
    a.handle.failed(down);
    handlers.get('ready')!();
    expect([a.reads, b.reads]).toEqual([2, 1]);
    // a follower that ended is neither read nor counted any more
    a.handle.close();
    expect(outages.waiting).toBe(0);
    handlers.get('close')!();
    expect([a.reads, b.reads]).toEqual([2, 2]);
  });
});
