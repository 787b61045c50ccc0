/**
 * The top self-time functions of a .cpuprofile: `node dist/bench/gateway-support/cpu-profile-top.js <file> [n]`.
 * Prints self ms and share per function (name, file:line), and the shares by package.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, nArg, inclusivePattern] = process.argv.slice(2);
if (!file) throw new Error('usage: cpu-profile-top <file.cpuprofile> [n]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const byFunction = new Map<string, number>();
const byPackage = new Map<string, number>();
let total = 0;
for (const [id, us] of selfUs) {
  const f = byId.get(id)!.callFrame;
  const url = f.url.replace(/^file:\/\/.*?node_modules\//, '').replace(/^file:\/\/.*?\/dist\//, 'dist/');
  const key = `${f.functionName || '(anonymous)'}  ${url}:${f.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  const pkg = f.url.includes('node_modules/')
    ? /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url)![1]!
    : f.url.startsWith('node:')
      ? 'node:internal'
      : f.url
        ? 'ours (dist)'
        : f.functionName || '(vm)';
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
  total += us;
}
// inclusive time of functions whose location matches the third argument (default: our code in dist/)
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const matcher = new RegExp(inclusivePattern ?? '/dist/');
const inclusive = new Map<string, number>();
profile.samples.forEach((id, i) => {
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const f = byId.get(at)!.callFrame;
    if (!matcher.test(f.url)) continue;
    const key = `${f.functionName || '(anonymous)'}  ${f.url.replace(/^.*?\/(dist|node_modules)\//, '')}:${f.lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
});
const top = (m: Map<string, number>, n: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([k, us]) =>
        `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`,
    )
    .join('\n');
console.log(
  `total sampled ${(total / 1000).toFixed(0)} ms\n\nby package:\n${top(byPackage, 15)}\n\nby function (self):\n${top(byFunction, Number(nArg ?? 40))}\n\ninclusive (${matcher.source}):\n${top(inclusive, Number(nArg ?? 40))}`,
);
