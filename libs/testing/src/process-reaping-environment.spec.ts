import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error -- plain JS (jest loads it as the test environment, outside the TypeScript build)
import ProcessReapingEnvironment, { LIVE_PROCESSES, TEMP_DIRS } from '../process-reaping-environment.js';
import { tempDir } from './processes.js';

const running = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

describe('the jest environment reaps what a spec file left running', () => {
  const started: ChildProcess[] = [];
  afterAll(() => {
    for (const p of started) if (running(p)) p.kill('SIGKILL');
  });

  const environment = async () => {
    const env = new ProcessReapingEnvironment(
      { globalConfig: {}, projectConfig: { testEnvironmentOptions: {}, globals: {}, fakeTimers: {} } },
      { testPath: 'left-behind.spec.ts', console, docblockPragmas: {} },
    );
    await env.setup();
    return env;
  };

  it('kills a recorded process still running at teardown, and leaves exited ones alone', async () => {
    const env = await environment();
    const left = spawn('sleep', ['60'], { stdio: 'ignore' });
    const done = spawn('true', [], { stdio: 'ignore' });
    started.push(left, done);
    await new Promise((r) => done.once('exit', r));
    env.global[LIVE_PROCESSES] = new Set([left, done]);
    expect(running(left)).toBe(true);

    await env.teardown();

    expect(left.signalCode).toBe('SIGKILL');
    expect(done.exitCode).toBe(0);
  });

  it('removes the temp dirs recorded for the file, with what is in them', async () => {
    const env = await environment();
    const dir = mkdtempSync(join(tmpdir(), 'reaper-spec-'));
    writeFileSync(join(dir, 'data'), 'x');
    env.global[TEMP_DIRS] = new Set([dir, join(dir, 'never-made')]);

    await env.teardown();

    expect(existsSync(dir)).toBe(false);
  });

  it('tempDir() records each dir it makes on the file global the environment reads', () => {
    const dir = tempDir('reaper-spec');
    expect(existsSync(dir)).toBe(true);
    // this file's own environment removes it when the file is done
    expect((globalThis as unknown as Record<string, Set<string> | undefined>)[TEMP_DIRS]?.has(dir)).toBe(
      true,
    );
  });
});
