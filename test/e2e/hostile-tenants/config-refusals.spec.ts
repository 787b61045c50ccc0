import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '#libs/testing';

/** Starts a built app with `env` and returns its exit code and everything it printed (it must refuse to start). */
function run(app: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, `dist/apps/${app}/src/main.js`)], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${app} did not refuse to start: ${output}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Issue 9 item 6: start-up refusals of the built apps, as an operator would see them. */
describe('hostile configuration: the apps refuse to start, and say why without printing secrets', () => {
  it('a bad REDIS_URL is named but its password is not printed', async () => {
    const r = await run('gateway', { REDIS_URL: 'redis//admin:hunter2-password@redis.internal:6379' });
    expect(r.code).toBe(78);
    expect(r.output).toMatch(/REDIS_URL/);
    expect(r.output).not.toMatch(/hunter2/);
  });

  it.each(['gateway', 'jobs-subgraph', 'artifacts-subgraph'])(
    '%s refuses the development identity secret on a non-loopback BIND_HOST',
    async (app) => {
      const r = await run(app, { BIND_HOST: '0.0.0.0', REDIS_URL: 'redis://127.0.0.1:1' });
      expect(r.code).toBe(78);
      expect(r.output).toMatch(/SWITCHYARD_IDENTITY_SECRET.*BIND_HOST/);
    },
  );
});
