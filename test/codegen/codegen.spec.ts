import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '#libs/testing';

/**
 * CI's guard on the committed typed clients: regenerating them from graphql/api.graphql and their documents
 * must change nothing (`npm run codegen -- --check`). The example that uses them typechecks in `npm run build`.
 */
describe('generated typed documents', () => {
  it('are what codegen writes from graphql/api.graphql', () => {
    const cli = join(REPO_ROOT, 'node_modules/@graphql-codegen/cli/cjs/bin.js');
    const r = spawnSync(process.execPath, [cli, '--config', 'codegen.ts', '--check'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/stale files/);
    expect(r.status).toBe(0);
  }, 120_000);
});
