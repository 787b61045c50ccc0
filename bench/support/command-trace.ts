import type { Redis } from 'ioredis';
import { SCHEDULER_SCRIPTS } from '../../apps/jobs-subgraph/src/scheduler/scripts.js';

const shaNames = new Map<string, string>();
for (const name of SCHEDULER_SCRIPTS.names) shaNames.set(SCHEDULER_SCRIPTS.get(name).sha, name);

/** A script by name (ours) or by its key count and first key (BullMQ's), a plain command by name. */
export function commandLabel(name: string, args: string[]): string {
  if (name !== 'evalsha' && name !== 'eval') return `cmd ${name}`;
  const known = shaNames.get(args[0]!);
  return known
    ? `script ${known}`
    : `bullmq ${args[1]} keys, ${String(args[2] ?? '').replace(/^[^:]*:[^:]*:/, '')}`;
}

/**
 * Every command Redis runs while it is on (MONITOR, on a connection of its own): what a script runs comes right
 * after its EVALSHA (Redis runs one command at a time), so each is counted with the script that ran it.
 */
export class CommandTrace {
  private readonly lines: Array<[source: string, ...args: string[]]> = [];

  private constructor(private readonly monitor: Redis) {}

  static async start(client: Redis): Promise<CommandTrace> {
    const monitor = await client.monitor();
    const trace = new CommandTrace(monitor);
    monitor.on('monitor', (_time: string, args: string[], source: string) =>
      trace.lines.push([source, ...args]),
    );
    return trace;
  }

  stop(): void {
    this.monitor.disconnect();
  }

  /** Commands per job (`jobs` ran while tracing), grouped by what issued them, most first. */
  report(jobs: number, title: string): string {
    const groups = new Map<string, { calls: number; inner: Map<string, number> }>();
    let current: { calls: number; inner: Map<string, number> } | undefined;
    let total = 0;
    for (const [source, cmd, ...args] of this.lines) {
      const name = cmd!.toLowerCase();
      if (name === 'monitor') continue;
      total++;
      if (source === 'lua') {
        if (current) current.inner.set(name, (current.inner.get(name) ?? 0) + 1);
        continue;
      }
      const label = commandLabel(name, args);
      const g = groups.get(label) ?? { calls: 0, inner: new Map<string, number>() };
      g.calls++;
      groups.set(label, g);
      current = name === 'evalsha' || name === 'eval' ? g : undefined;
    }
    const per = (n: number) => (n / jobs).toFixed(1);
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const rows = [...groups.entries()].sort(
      ([, a], [, b]) => b.calls + sum(b.inner) - (a.calls + sum(a.inner)),
    );
    const out = [`${title}: ${per(total)}`];
    for (const [label, g] of rows) {
      const detail = [...g.inner.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([c, n]) => `${c} ${per(n)}`)
        .join(', ');
      out.push(
        `${per(g.calls + sum(g.inner)).padStart(6)}  ${label} ×${per(g.calls)}${detail ? `  [${detail}]` : ''}`,
      );
    }
    return out.join('\n');
  }
}
