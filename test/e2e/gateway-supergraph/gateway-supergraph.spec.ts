import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '#libs/testing';

/**
 * CI's guard on the committed supergraph: regenerating it from the subgraphs' code must change nothing,
 * composition must succeed and the public contract must hold (`npm run compose -- --check`).
 */
describe('committed supergraph', () => {
  it('is what composing the built subgraphs gives, and satisfies the contract', () => {
    const script = join(REPO_ROOT, 'dist/scripts/compose-supergraph.js');
    expect(existsSync(script)).toBe(true); // npm test builds first
    const r = spawnSync(process.execPath, [script, '--check'], { cwd: REPO_ROOT, encoding: 'utf8' });
    const output = `${r.stdout}${r.stderr}`;
    expect(output).toMatch(/supergraph: up to date/);
    expect(output).toMatch(/contract: ok/);
    expect(r.status).toBe(0);
  }, 60_000);
});
