import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  pid: number;
  totalMs: number;
  /** Self time per function (name + file:line), largest first. */
  top: Array<{ fn: string; selfMs: number; share: number }>;
}

/**
 * Self time per function of each .cpuprofile in `dir` (what `node --cpu-prof` writes on exit), from the
 * samples and their time deltas. `(idle)` is left out of the shares: it is not CPU.
 */
export function summarizeProfiles(
  dir: string,
  root: string,
  windowUs: [number, number],
  topN = 15,
): ProfileSummary[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => summarize(join(dir, f), root, windowUs, topN));
}

/** Only samples inside `windowUs` (monotonic µs) count: start-up and shutdown stay out of the picture. */
function summarize(path: string, root: string, windowUs: [number, number], topN: number): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let busyUs = 0;
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (at < windowUs[0] || at > windowUs[1]) continue;
    const node = byId.get(samples[i]!);
    if (!node) continue;
    // a sample's time is the delta to the next one
    const us = deltas[i + 1] ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    const where = url ? `${shortUrl(url, root)}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    selfUs.set(key, (selfUs.get(key) ?? 0) + us);
    busyUs += us;
  }
  const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(path)?.[1] ?? 0);
  return {
    file: path,
    pid,
    totalMs: busyUs / 1000,
    top: [...selfUs]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([fn, us]) => ({ fn, selfMs: us / 1000, share: busyUs > 0 ? us / busyUs : 0 })),
  };
}

function shortUrl(url: string, root: string): string {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + '/node_modules/'.length);
  return path.startsWith(root) ? relative(root, path) : path;
}

/** The summaries as Markdown: one small table per process. */
export function renderProfiles(
  summaries: ProfileSummary[],
  names: Map<number, string>,
  jobs: number,
): string {
  return summaries
    .filter((s) => s.totalMs > 0)
    .sort((a, b) => b.totalMs - a.totalMs)
    .map((s) => {
      const name = names.get(s.pid) ?? `pid ${s.pid}`;
      const head = `#### ${name} (pid ${s.pid}): ${s.totalMs.toFixed(0)} ms on CPU in the profile, ${(s.totalMs / Math.max(1, jobs)).toFixed(2)} ms per job over ${jobs} jobs`;
      const rows = s.top.map(
        (t) =>
          `| ${(t.share * 100).toFixed(1)} % | ${t.selfMs.toFixed(0)} | \`${t.fn.replace(/\|/g, '\\|')}\` |`,
      );
      return [head, '', '| self | ms | function (file:line) |', '| ---: | ---: | --- |', ...rows].join('\n');
    })
    .join('\n\n');
}
