import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLeftoverStack, stopProcesses, writeStackFile } from './stack-lock.js';

// #libs/testing's tempDir() would make this lib's spec depend on the lib that depends on it: its own cleanup
const made: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'stack-lock-'));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe('stack.json: the stack left on a data dir', () => {
  it('sees a plain `npm start` (no SWITCHYARD_DATA_DIR in its own environment) running on the default ./.data', async () => {
    const cwd = freshDir();
    const env = { ...process.env };
    delete env.SWITCHYARD_DATA_DIR;
    // stands in for `node dist/scripts/start.js` started in `cwd`: same cmdline word, same cwd, same environment
    const launcher = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', 'start.js'], {
      cwd,
      env,
    });
    try {
      await new Promise((r) => launcher.once('spawn', r));
      const dataDir = join(cwd, '.data');
      writeStackFile(cwd, { launcherPid: launcher.pid!, startedAt: new Date().toISOString(), children: [] });
      expect(findLeftoverStack(cwd)).toEqual({ state: 'none' }); // another dir: not its stack
      mkdirSync(dataDir);
      writeStackFile(dataDir, {
        launcherPid: launcher.pid!,
        startedAt: new Date().toISOString(),
        children: [],
      });
      expect(findLeftoverStack(dataDir)).toEqual({ state: 'running', launcherPid: launcher.pid });
    } finally {
      launcher.kill('SIGKILL');
    }
  });

  it('finds the children of a launcher that died and stops them; ignores a reused pid', async () => {
    const dataDir = freshDir();
    const child = spawn('sleep', ['60'], { env: { ...process.env, SWITCHYARD_DATA_DIR: dataDir } });
    const stranger = spawn('sleep', ['60']); // alive, but not of this stack (as a pid reused by another program)
    try {
      const deadLauncher = spawn('true');
      await new Promise((r) => deadLauncher.once('exit', r));
      writeStackFile(dataDir, {
        launcherPid: deadLauncher.pid!,
        startedAt: new Date().toISOString(),
        children: [
          { name: 'gpu-worker', pid: child.pid! },
          { name: 'redis', pid: stranger.pid! },
        ],
      });
      const found = findLeftoverStack(dataDir);
      expect(found).toEqual({
        state: 'orphaned',
        launcherPid: deadLauncher.pid,
        children: [{ name: 'gpu-worker', pid: child.pid }],
      });
      const gone = new Promise((r) => child.once('exit', r));
      await stopProcesses([child.pid!], 5_000);
      await gone;
      expect(stranger.exitCode).toBeNull();
    } finally {
      child.kill('SIGKILL');
      stranger.kill('SIGKILL');
    }
  });

  it('reports a launcher that still runs on the data dir', async () => {
    const dataDir = freshDir();
    // A stand-in launcher: a process whose command line names start.js and whose environment has the dir.
    const launcher = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'start.js'], {
      env: { ...process.env, SWITCHYARD_DATA_DIR: dataDir },
    });
    try {
      await new Promise((r) => launcher.once('spawn', r));
      writeStackFile(dataDir, { launcherPid: launcher.pid!, startedAt: '', children: [] });
      expect(findLeftoverStack(dataDir)).toEqual({ state: 'running', launcherPid: launcher.pid });
    } finally {
      launcher.kill('SIGKILL');
    }
  });

  it('ignores a missing or torn file', () => {
    expect(findLeftoverStack(freshDir()).state).toBe('none');
  });
});
