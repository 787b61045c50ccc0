import { spawn, type ChildProcess } from 'node:child_process';
// @ts-expect-error -- plain JS (jest loads it as the test environment, outside the TypeScript build)
import ProcessReapingEnvironment, { LIVE_PROCESSES } from '../process-reaping-environment.js';

const running = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

describe('the jest environment reaps what a spec file left running', () => {
  const started: ChildProcess[] = [];
  afterAll(() => {
    for (const p of started) if (running(p)) p.kill('SIGKILL');
  });

  it('kills a recorded process still running at teardown, and leaves exited ones alone', async () => {
    const env = new ProcessReapingEnvironment(
      { globalConfig: {}, projectConfig: { testEnvironmentOptions: {}, globals: {}, fakeTimers: {} } },
      { testPath: 'left-behind.spec.ts', console, docblockPragmas: {} },
    );
    await env.setup();
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
});
