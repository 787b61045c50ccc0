// The keys CLI is public (issue 6, README "API keys"): `npm run keys -- create --tenant acme --scopes
// jobs:read,jobs:write` prints the new key alone on its last line; `list`; `revoke <id>`. Run as an operator
// runs it (the built script, its own process, REDIS_URL) against a real redis-server. Needs `npm run build`.
import { spawn } from 'node:child_process';
import { ApiKeyStore } from '#libs/auth';
import { redisPerSuite, REPO_ROOT } from '#libs/testing';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('keys CLI (npm run keys)', () => {
  const redis = redisPerSuite();

  const keys = (...args: string[]): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['dist/scripts/keys.js', ...args], {
        cwd: REPO_ROOT,
        env: { ...process.env, NODE_OPTIONS: '', REDIS_URL: redis.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  const lastLine = (out: string) => out.trimEnd().split('\n').at(-1)!;

  it('create --tenant --scopes [--name]: the key alone on the last line, stored hashed with its tenant and scopes', async () => {
    const r = await keys('create', '--tenant', 'acme', '--scopes', 'jobs:read,jobs:write', '--name', 'ci');
    expect(r.code).toBe(0);
    const key = lastLine(r.stdout);
    expect(key).toMatch(/^sy_[0-9a-f]+_[0-9a-f]+$/);
    const verified = await new ApiKeyStore(redis.client).verify(key);
    expect(verified).toMatchObject({ tenant: 'acme', scopes: ['jobs:read', 'jobs:write'] });
    // hashed: the secret is nowhere in Redis
    const secret = key.split('_')[2]!;
    for (const k of await redis.client.keys('*')) {
      const type = await redis.client.type(k);
      const stored = type === 'hash' ? JSON.stringify(await redis.client.hgetall(k)) : '';
      expect(stored).not.toContain(secret);
    }
  });

  it('list [--tenant] shows id, tenant, scopes and name; revoke <id> stops the key', async () => {
    const acme = lastLine((await keys('create', '--tenant', 'acme', '--scopes', 'admin')).stdout);
    await keys('create', '--tenant', 'other', '--scopes', 'artifacts:read');
    const id = acme.split('_')[1]!;

    const listed = await keys('list', '--tenant', 'acme');
    expect(listed.code).toBe(0);
    expect(listed.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(`^${id}  tenant=acme  scopes=admin  `),
    ]);
    expect((await keys('list')).stdout.trim().split('\n')).toHaveLength(2);

    const revoked = await keys('revoke', id);
    expect({ code: revoked.code, out: revoked.stdout.trim() }).toEqual({ code: 0, out: `revoked ${id}` });
    await expect(new ApiKeyStore(redis.client).verify(acme)).rejects.toThrow();
    expect((await keys('list', '--tenant', 'acme')).stdout).toMatch(/REVOKED/);
  });

  it('refuses an unknown scope, an unknown id and a missing command with a message and a non-zero exit', async () => {
    const badScope = await keys('create', '--tenant', 'acme', '--scopes', 'jobs:everything');
    expect(badScope.code).toBe(1);
    expect(badScope.stderr).toMatch(/scopes/);
    expect(await redis.client.dbsize()).toBe(0);

    const unknown = await keys('revoke', 'nope');
    expect({ code: unknown.code, err: unknown.stderr.trim() }).toEqual({ code: 1, err: 'no API key nope' });

    // a mistyped flag: the usage, not a stack trace
    const typo = await keys('create', '--tenat', 'acme', '--scopes', 'admin');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^keys: Unknown option '--tenat'/);
    expect(typo.stderr).toContain('usage:');
    expect(typo.stderr).not.toMatch(/\n\s+at /);
    expect(await redis.client.dbsize()).toBe(0);

    const usage = await keys();
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('npm run keys -- create --tenant <tenant> --scopes <scope,scope>');
    expect(usage.stderr).toContain('scopes: jobs:read, jobs:write, artifacts:read, artifacts:write, admin');
  });
});
