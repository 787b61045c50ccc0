/**
 * A command task's process that leaves its process group (setsid: Node's `detached: true`, `setsid(1)`, a double
 * fork) keeps the actor slot's uid (COMMAND_TASK_UID_BASE + slot), which every later attempt on that actor runs
 * as, whatever its tenant: left alive, it would read the next attempt's input artifacts and plant files in its
 * output dir. Every process of the uid ends with the attempt (task-user.ts endProcessesOf). Runs as root only
 * (as the worker must to run command tasks).
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalTaskContext, runTask } from '#libs/task-sdk';
import { testCommandTaskUser } from '../test/command-task-user.js';
import { commandTask } from './command-task.js';
import { CommandTaskDeclaration } from './command-tasks-file.js';

const asRoot = process.getuid?.() === 0;

// What a hostile tenant's code does inside its attempt (a script it supplies, a pickled model the tool loads,
// a bug in the tool): leave a watcher behind in a new session, then exit 0.
const PLANT = `
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const w = spawn(process.execPath, [process.env.WATCHER, process.env.SWITCHYARD_OUTPUT_DIR, process.env.EVIDENCE], {
  detached: true, stdio: 'ignore',
});
w.unref();
writeFileSync(process.env.EVIDENCE + '/watcher.pid', String(w.pid));
`;

// The watcher: finds later commands of its uid through /proc, reads their inputs, forges their outputs.
const WATCHER = `
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
const [mine, evidence] = process.argv.slice(2);
const deadline = Date.now() + 20000;
while (Date.now() < deadline) {
  for (const pid of readdirSync('/proc').filter((p) => /^\\d+$/.test(p))) {
    let env;
    try { env = readFileSync('/proc/' + pid + '/environ', 'utf8').split('\\0'); } catch { continue; }
    const get = (k) => env.find((e) => e.startsWith(k + '='))?.slice(k.length + 1);
    const out = get('SWITCHYARD_OUTPUT_DIR');
    if (!out || out === mine) continue;
    try {
      const secret = readFileSync(get('SWITCHYARD_INPUT_DIR') + '/data', 'utf8');
      writeFileSync(evidence + '/leak.txt', get('SWITCHYARD_JOB_ID') + ':' + secret);
      writeFileSync(out + '/forged.txt', 'forged by the previous attempt');
      process.exit(0);
    } catch {}
  }
  await new Promise((r) => setTimeout(r, 20));
}
`;

const VICTIM = `await new Promise((r) => setTimeout(r, 1500));`;

(asRoot ? describe : describe.skip)('a command task leaves nothing running under the slot uid', () => {
  let dir: string;
  let evidence: string;
  let watcherPid: number | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'review-linger-'));
    // the task uid writes its evidence here; under a folder it cannot write, which the cleanup of its files
    // in world-writable places (leftover-files.ts) does not walk into
    await chmod(dir, 0o755);
    evidence = join(dir, 'evidence');
    await mkdir(evidence);
    await chmod(evidence, 0o1777);
  });
  afterEach(async () => {
    if (watcherPid)
      try {
        process.kill(watcherPid, 'SIGKILL');
      } catch {
        // already gone
      }
    await rm(dir, { recursive: true, force: true });
  });

  const declare = (name: string, script: string, env: Record<string, string> = {}) =>
    CommandTaskDeclaration.parse({
      name,
      version: '1.0.0',
      argv: [process.execPath, script],
      env,
      input: { type: 'object', properties: { data: { type: 'string', artifact: true } } },
      resources: { gpu: 0, vramGb: 0, cpu: 1 },
      timeoutMs: 60_000,
      attempts: 1,
    });

  it("what it left running ends with its attempt: the next attempt on the actor (another tenant's) is untouched", async () => {
    for (const [f, s] of [
      ['plant.mjs', PLANT],
      ['watcher.mjs', WATCHER],
      ['victim.mjs', VICTIM],
    ] as const)
      await writeFile(join(dir, f), s, { mode: 0o644 });
    // both attempts on actor slot 0 (this test run's first uid), as two jobs leased one after the other
    const attacker = commandTask(
      declare('ops.plant', join(dir, 'plant.mjs'), { WATCHER: join(dir, 'watcher.mjs'), EVIDENCE: evidence }),
      { user: testCommandTaskUser() },
    );
    const victim = commandTask(declare('ops.victim', join(dir, 'victim.mjs')), {
      user: testCommandTaskUser(),
    });

    const ctxA = await createLocalTaskContext({ rootDir: join(dir, 'a'), attempt: { jobId: 'mallory-job' } });
    const outA = await runTask(attacker, {}, ctxA);
    expect(outA.exitCode).toBe(0);
    watcherPid = Number(await readFile(join(evidence, 'watcher.pid'), 'utf8'));
    // the attempt is over: the watcher it started in a session of its own ended with it (or is a zombie)
    const state = () => /^State:\s+(\S)/m.exec(readFileSync(`/proc/${watcherPid}/status`, 'utf8'))?.[1];
    expect(existsSync(`/proc/${watcherPid}`) ? state() : 'gone').toMatch(/gone|Z|X/);

    const ctxB = await createLocalTaskContext({ rootDir: join(dir, 'b'), attempt: { jobId: 'alice-job' } });
    const data = await ctxB.artifacts.put(Buffer.from('alice-private-dataset'), {
      name: 'data.csv',
      contentType: 'text/csv',
    });
    const outB = await runTask(victim, { data }, ctxB);
    expect(outB.exitCode).toBe(0);

    // alice's input was not read by mallory's leftover process, and her job has no output mallory wrote
    expect(existsSync(join(evidence, 'leak.txt'))).toBe(false);
    expect(outB.artifacts).toEqual([]);
  }, 60_000);
});
