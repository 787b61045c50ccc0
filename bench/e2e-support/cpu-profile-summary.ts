import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
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
  /** Samples in the window that were not idle. */
  samples: number;
  /**
   * Self samples per function (name + file:line), largest first, with the caller chain (3 frames) that
   * contributed most of them: for a native like writeUtf8String only the caller says who wrote.
   */
  top: Array<{ fn: string; share: number; via: string }>;
}

/**
 * Self samples per function of each .cpuprofile in `dir` (the preload's, or `node --cpu-prof`'s).
 * `(idle)` is left out of the shares: it is not CPU.
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
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const frame = (n: ProfileNode) => {
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? `${shortUrl(url, root)}:${lineNumber + 1}` : '';
    return `${functionName || '(anonymous)'} ${where}`.trim();
  };
  const callers = (id: number) => {
    const chain: string[] = [];
    for (let p = parentOf.get(id); p !== undefined && chain.length < 3; p = parentOf.get(p)) {
      const n = byId.get(p)!;
      if (n.callFrame.functionName === '(root)') break;
      chain.push(frame(n));
    }
    return chain.join(' < ');
  };
  const selfCount = new Map<string, number>();
  const viaCount = new Map<string, Map<string, number>>();
  let counted = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (at < windowUs[0] || at > windowUs[1]) continue;
    const node = byId.get(samples[i]!);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    // samples, not their time deltas: on a loaded machine a descheduled process's deltas are wall time
    const key = frame(node);
    selfCount.set(key, (selfCount.get(key) ?? 0) + 1);
    const via = callers(node.id);
    const perVia = viaCount.get(key) ?? new Map<string, number>();
    perVia.set(via, (perVia.get(via) ?? 0) + 1);
    viaCount.set(key, perVia);
    counted++;
  }
  const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(path)?.[1] ?? 0);
  return {
    file: path,
    pid,
    samples: counted,
    top: [...selfCount]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([fn, n]) => ({
        fn,
        share: n / counted,
        via: [...viaCount.get(fn)!].sort((a, b) => b[1] - a[1])[0]![0],
      })),
  };
}

function shortUrl(url: string, root: string): string {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + '/node_modules/'.length);
  return path.startsWith(root) ? relative(root, path) : path;
}

/**
 * The summaries as Markdown: one small table per process, with its CPU per job measured from /proc (the
 * profile's own sample times are wall time on a loaded machine; its shares are what it tells reliably).
 */
export function renderProfiles(
  summaries: ProfileSummary[],
  names: Map<number, string>,
  cpuMsPerJob: Record<string, number>,
): string {
  const cell = (t: string) => `\`${t.replace(/\|/g, '\\|')}\``;
  return summaries
    .filter((s) => s.samples > 0)
    .map((s) => ({ s, name: names.get(s.pid) ?? `pid ${s.pid}` }))
    .sort((a, b) => (cpuMsPerJob[b.name] ?? 0) - (cpuMsPerJob[a.name] ?? 0))
    .map(({ s, name }) => {
      const cpu = cpuMsPerJob[name];
      const head = `#### ${name} (pid ${s.pid})${cpu !== undefined ? `: ${cpu.toFixed(2)} ms CPU per job (/proc, whole tree)` : ''}, ${s.samples} samples`;
      const rows = s.top.map(
        (t) => `| ${(t.share * 100).toFixed(1)} % | ${cell(t.fn)} | ${t.via ? cell(t.via) : ''} |`,
      );
      return [
        head,
        '',
        '| self | function (file:line) | mostly called from |',
        '| ---: | --- | --- |',
        ...rows,
      ].join('\n');
    })
    .join('\n\n');
}
