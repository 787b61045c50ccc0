/**
 * `npm start` to ready, against the floor on the same machine in the same run (see bench/README.md, "startup").
 * Per round, in turn: the floor (bench/startup-support/floor-stack.ts: redis-server, the local S3 server and four
 * minimal Nest apps), `npm start` on a tree built before (warm), `npm start` after touching a source file, the
 * launcher alone (node dist/scripts/start.js), `npm run build` with nothing changed, and a plain node:http
 * server. Per app: its spawn → ready from the launcher's "ready … in N ms" line, against a minimal Nest app's
 * in the floor run. BENCH_STARTUP_COLD=1 first also times a clean clone's first `npm start` (committed HEAD).
 * Every stack is checked with one GraphQL query through the gateway with the printed key; a failure exits 1.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchStack, type LaunchedStack } from './stack-support/launched-stack.js';
import { runFloorStack, runPlainHttpServer } from './startup-support/floor-stack.js';
import { median, ratio } from './support/stats.js';

process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const COLD = process.env.BENCH_STARTUP_COLD === '1';
const TIMEOUT_MS = Number(process.env.BENCH_STARTUP_TIMEOUT_MS ?? 300_000);
/** Touched (mtime only) before the "touched" start: a leaf file, so tsc -b rebuilds incrementally. */
const TOUCHED = join(ROOT, 'apps/gateway/src/main.ts');
const APPS = ['jobs-subgraph', 'artifacts-subgraph', 'gpu-worker', 'gateway'] as const;

const step = (what: string) => console.error(`[startup bench] ${what}`);

async function checkedStart(opts: { viaNpmStart: boolean; root?: string }): Promise<LaunchedStack> {
  const stack = await launchStack({}, { ...opts, readyTimeoutMs: TIMEOUT_MS });
  try {
    const res = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.key}` },
      body: JSON.stringify({ query: '{ capabilities { name } }' }),
    });
    const body = (await res.json()) as { errors?: unknown; data?: { capabilities: unknown[] } };
    if (body.errors || !body.data?.capabilities.length)
      throw new Error(`the started stack does not answer: ${JSON.stringify(body)}`);
  } catch (e) {
    await stack.stop();
    throw e;
  }
  return stack;
}

/** Each app's spawn → ready as the launcher printed it ("<app> ready on port P in N ms"). */
function readyInOf(out: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const app of APPS) {
    const m = new RegExp(`\\] ${app} ready on port \\d+ in (\\d+) ms`).exec(out);
    if (m) found[app] = Number(m[1]);
  }
  return found;
}

async function timed(cmd: string, args: string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code}`);
  return performance.now() - started;
}

const sec = (ms: number | undefined) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`);
const runs = {
  floor: [] as number[],
  floorApp: [] as number[],
  warm: [] as number[],
  touched: [] as number[],
  launcher: [] as number[],
  build: [] as number[],
  plain: [] as number[],
  app: Object.fromEntries(APPS.map((a) => [a, [] as number[]])) as Record<string, number[]>,
};
let cold: number | undefined;

try {
  if (COLD) {
    const clone = mkdtempSync(join(tmpdir(), 'switchyard-bench-clone-'));
    try {
      step(`cold: a clean clone of HEAD in ${clone}, first npm start`);
      execFileSync('git', ['clone', '--quiet', ROOT, clone]);
      symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'));
      const stack = await checkedStart({ viaNpmStart: true, root: clone });
      cold = stack.readyMs;
      await stack.stop();
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  }
  for (let round = 1; round <= ROUNDS; round++) {
    const of = `round ${round}/${ROUNDS}`;
    step(`${of}: floor (redis-server, local S3 server, 4 minimal Nest apps)`);
    const floor = await runFloorStack(TIMEOUT_MS);
    runs.floor.push(floor.readyMs);
    runs.floorApp.push(median(floor.appReadyMs));

    step(`${of}: npm start, built before`);
    let stack = await checkedStart({ viaNpmStart: true });
    runs.warm.push(stack.readyMs);
    for (const [app, ms] of Object.entries(readyInOf(stack.output()))) runs.app[app]!.push(ms);
    await stack.stop();

    step(`${of}: npm start after touching ${TOUCHED.slice(ROOT.length + 1)}`);
    const now = Date.now() / 1000;
    utimesSync(TOUCHED, now, now);
    stack = await checkedStart({ viaNpmStart: true });
    runs.touched.push(stack.readyMs);
    await stack.stop();

    step(`${of}: the launcher alone (node dist/scripts/start.js)`);
    stack = await checkedStart({ viaNpmStart: false });
    runs.launcher.push(stack.readyMs);
    await stack.stop();

    step(`${of}: npm run build, nothing changed; a plain node:http server`);
    runs.build.push(await timed('npm', ['run', 'build', '--silent']));
    runs.plain.push(await runPlainHttpServer(TIMEOUT_MS));
  }
} catch (e) {
  console.error(`startup bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
}

const floor = median(runs.floor);
const floorApp = median(runs.floorApp);
type Row = readonly [string, number | undefined, string, number | undefined];
const rows: Row[] = [
  ['`npm start` → key, built before (warm)', median(runs.warm), 'floor stack ready', floor],
  ['`npm start` → key, a source file touched', median(runs.touched), 'floor stack ready', floor],
  ...(cold !== undefined
    ? [['`npm start` → key, clean clone (cold: full build)', cold, 'floor stack ready', floor] as Row]
    : []),
  ['launcher alone → key', median(runs.launcher), 'floor stack ready', floor],
  ['`npm run build`, nothing changed', median(runs.build), '—', undefined],
  ...APPS.map(
    (app) =>
      [
        `${app}: spawn → ready`,
        runs.app[app]!.length ? median(runs.app[app]!) : undefined,
        'minimal Nest app: spawn → ready',
        floorApp,
      ] as Row,
  ),
  ['—', undefined, 'plain node:http server: spawn → ready', median(runs.plain)],
];
console.log(
  `\nstartup, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores, ` +
    `${ROUNDS} round(s), medians\n`,
);
console.log('| what | ours | peer | peer value | ours/peer |');
console.log('| --- | ---: | --- | ---: | ---: |');
for (const [what, ours, peer, peerValue] of rows)
  console.log(`| ${what} | ${sec(ours)} | ${peer} | ${sec(peerValue)} | ${ratio(ours, peerValue, '—')} |`);
console.log(
  `\nwarm npm start per round: ${runs.warm.map((w, i) => ratio(w, runs.floor[i], '—')).join(', ')} of the floor`,
);
