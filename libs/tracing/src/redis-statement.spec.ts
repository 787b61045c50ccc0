import { redisStatement } from './redis-statement.js';

describe('redisStatement (db.query.text of Redis spans)', () => {
  it("keeps a Lua step's keys and drops its arguments", () => {
    const labels = JSON.stringify({ note: 'tenant-private' });
    expect(redisStatement('evalsha', ['ab12', 2, '{sy}:job:1', '{sy}:tenant:acme', labels, '42'])).toBe(
      'evalsha ab12 2 {sy}:job:1 {sy}:tenant:acme [2 other arguments]',
    );
    expect(redisStatement('eval', ['return 1', 1, 'k', labels])).toBe(
      'eval [script] 1 k [1 other arguments]',
    );
  });

  it('keeps only the first argument (the key) of other commands, cut to 128 characters', () => {
    expect(redisStatement('hset', ['{sy}:job:1', 'labels', '{"a":1}'])).toBe(
      'hset {sy}:job:1 [2 other arguments]',
    );
    expect(redisStatement('ping', [])).toBe('ping');
    expect(redisStatement('get', ['k'.repeat(500)])).toBe(`get ${'k'.repeat(128)}…`);
    expect(redisStatement('set', [Buffer.from('key'), 'v'])).toBe('set [3 bytes] [1 other arguments]');
  });

  it('survives a malformed key count', () => {
    expect(redisStatement('evalsha', ['ab12', 'x', 'secret'])).toBe('evalsha ab12 0 [1 other arguments]');
    expect(redisStatement('evalsha', ['ab12', 9, 'k'])).toBe('evalsha ab12 1 k');
  });
});

describe('redisStatement and credentials', () => {
  // REDIS_URL redis://:<password>@host (docs/deployment.md): ioredis sends AUTH <password> on each connection. The
  // instrumentation's default serializer recorded no argument of AUTH / HELLO ("auth [1 other arguments]").
  it('never records the password of AUTH or HELLO … AUTH', () => {
    for (const [command, args] of [
      ['auth', ['s3cret-password']],
      ['auth', ['default', 's3cret-password']],
      ['hello', ['3', 'AUTH', 'default', 's3cret-password']],
      ['AUTH', ['s3cret-password']],
    ] as const)
      expect(redisStatement(command, args)).not.toContain('s3cret');
  });
});
