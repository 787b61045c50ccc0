import {
  EvictionPolicyMonitor,
  parseMaxmemoryPolicy,
  RedisEvictionPolicyError,
  type RedisLogger,
} from './index.js';

function recording(production: boolean) {
  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const push = (level: string) => (obj: object, msg: string) =>
    lines.push({ level, msg, obj: obj as Record<string, unknown> });
  const logger: RedisLogger = { info: push('info'), warn: push('warn'), error: push('error') };
  const refusals: RedisEvictionPolicyError[] = [];
  const monitor = new EvictionPolicyMonitor({
    name: 'test',
    production,
    logger,
    refuse: (e) => refusals.push(e),
  });
  return { monitor, lines, refusals };
}

describe('parseMaxmemoryPolicy', () => {
  it('reads maxmemory_policy from INFO memory', () => {
    const info =
      '# Memory\r\nused_memory:1\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\nallocator_frag:1\r\n';
    expect(parseMaxmemoryPolicy(info)).toBe('allkeys-lru');
    expect(parseMaxmemoryPolicy('maxmemory_policy:noeviction')).toBe('noeviction');
  });

  it('is null when Redis does not report it', () => {
    expect(parseMaxmemoryPolicy('# Memory\r\nused_memory:1\r\nmaxmemory:0\r\n')).toBeNull();
    expect(parseMaxmemoryPolicy('maxmemory_policy:\r\n')).toBeNull();
  });
});

describe('EvictionPolicyMonitor', () => {
  it('outside production: an evicting policy is one error line naming it and what to set, never a refusal', () => {
    const { monitor, lines, refusals } = recording(false);
    monitor.observe('allkeys-lru');
    monitor.observe('allkeys-lru');
    expect(refusals).toEqual([]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'error',
      obj: { redis: 'test', maxmemory_policy: 'allkeys-lru', expected: 'noeviction' },
    });
    expect(lines[0]!.msg).toMatch(/maxmemory-policy is allkeys-lru.*Set maxmemory-policy noeviction/);
    expect(monitor.policy).toBe('allkeys-lru');
  });

  it('in production: an evicting policy at the first read refuses to start, with a typed error naming it', () => {
    const { monitor, lines, refusals } = recording(true);
    monitor.observe('volatile-lru');
    expect(lines).toEqual([]);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toBeInstanceOf(RedisEvictionPolicyError);
    expect(refusals[0]).toMatchObject({ policy: 'volatile-lru', code: 'REDIS_EVICTION_POLICY' });
    expect(refusals[0]!.message).toMatch(
      /refusing to start in production: Redis maxmemory-policy is volatile-lru/,
    );
    expect(refusals[0]!.message).toMatch(/noeviction/);
  });

  it('in production: a change after a good start is logged (once per change), not a refusal', () => {
    const { monitor, lines, refusals } = recording(true);
    monitor.observe('noeviction');
    monitor.observe('noeviction');
    monitor.observe('allkeys-lfu');
    monitor.observe('allkeys-lfu');
    monitor.observe('noeviction');
    expect(refusals).toEqual([]);
    expect(lines.map((l) => [l.level, l.obj.maxmemory_policy, l.obj.previous])).toEqual([
      ['info', 'noeviction', undefined],
      ['error', 'allkeys-lfu', 'noeviction'],
      ['info', 'noeviction', 'allkeys-lfu'],
    ]);
  });

  it('a policy Redis does not report is a warning, not a refusal', () => {
    const { monitor, lines, refusals } = recording(true);
    monitor.observe(null);
    expect(refusals).toEqual([]);
    expect(lines).toMatchObject([{ level: 'warn', obj: { maxmemory_policy: null } }]);
    expect(monitor.policy).toBeNull();
  });
});
