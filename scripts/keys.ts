// npm run keys -- create --tenant acme --scopes jobs:read,jobs:write [--name ci]   (the key alone on the last line)
// npm run keys -- list [--tenant acme]
// npm run keys -- revoke <id>
// Uses REDIS_URL (default redis://127.0.0.1:6379).
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { ApiKeyStore } from '#libs/auth';
import { ContractViolation } from '#libs/contracts';
import { loadConfig, redisEnv } from '#libs/config';

const USAGE = `usage:
  npm run keys -- create --tenant <tenant> --scopes <scope,scope> [--name <name>]
  npm run keys -- list [--tenant <tenant>]
  npm run keys -- revoke <id>
scopes: jobs:read, jobs:write, artifacts:read, artifacts:write, admin`;

async function run(argv: string[], out: (line: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { tenant: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' } },
    });
  } catch (e) {
    // a mistyped flag is the operator's input: say what and how, not a stack trace
    process.stderr.write(`keys: ${(e as Error).message.split('. ')[0]}\n${USAGE}\n`);
    return 2;
  }
  const { positionals, values } = parsed;
  const [command, ...rest] = positionals;
  if (!command || !['create', 'list', 'revoke'].includes(command)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const { REDIS_URL } = loadConfig(redisEnv);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2, connectTimeout: 5_000, lazyConnect: true });
  try {
    await redis.connect();
    const store = new ApiKeyStore(redis);
    if (command === 'create') {
      const scopes = (values.scopes ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const { key, record } = await store.create({
        tenant: values.tenant ?? '',
        scopes: scopes as never,
        name: values.name,
      });
      out(
        `created key ${record.id} for tenant ${record.tenant} with scopes ${record.scopes.join(',')} (shown once):`,
      );
      out(key);
    } else if (command === 'list') {
      for (const k of await store.list(values.tenant))
        out(
          `${k.id}  tenant=${k.tenant}  scopes=${k.scopes.join(',')}  name=${JSON.stringify(k.name)}  created=${k.createdAt}  lastUsed=${k.lastUsedAt ?? '-'}${k.revokedAt ? `  REVOKED ${k.revokedAt}` : ''}`,
        );
    } else {
      const id = rest[0];
      if (!id) {
        process.stderr.write(`${USAGE}\n`);
        return 2;
      }
      if (!(await store.revoke(id))) {
        process.stderr.write(`no API key ${id}\n`);
        return 1;
      }
      out(`revoked ${id}`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(
      `keys: ${e instanceof ContractViolation ? e.message : e instanceof Error ? e.message : String(e)}\n`,
    );
    return 1;
  } finally {
    redis.disconnect();
  }
}

process.exit(await run(process.argv.slice(2), (line) => process.stdout.write(`${line}\n`)));
