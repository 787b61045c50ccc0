// Reading the metric catalog (docs/metrics.md), the alert rules and the dashboard, and Prometheus text
// exposition, for metrics-catalog.spec.ts. No PromQL parser: names are taken by pattern and the
// expressions are checked for balanced brackets and quotes.

/** Labels every series may carry without being listed per metric (prom-client default label, scrape labels). */
export const TARGET_LABELS = new Set(['service', 'instance', 'job', 'pod', 'namespace', 'le']);

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/** Every `switchyard_*` name in a text (PromQL, Markdown). */
export function metricNames(text: string): Set<string> {
  return new Set(text.match(/\bswitchyard_[a-zA-Z0-9_]+/g) ?? []);
}

/** The metric a series name belongs to: `x_bucket` of histogram `x` is `x`. */
export function baseName(series: string, histograms: ReadonlySet<string>): string {
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (series.endsWith(suffix) && histograms.has(series.slice(0, -suffix.length)))
      return series.slice(0, -suffix.length);
  }
  return series;
}

/** Null when (), [] and {} nest properly outside string literals; the first problem otherwise. */
export function bracketProblem(expr: string): string | null {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: string[] = [];
  let quote: string | null = null;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') stack.push(c);
    else if (c in pairs) {
      if (stack.pop() !== pairs[c]) return `unbalanced "${c}" at ${i}`;
    }
  }
  if (quote) return `unterminated ${quote}`;
  return stack.length ? `unclosed "${stack.at(-1)}"` : null;
}

/** `metric{a="x", b=~"y"}` selectors in a PromQL expression: the metric and the label names it matches on. */
export function selectors(expr: string): Array<{ metric: string; labels: string[] }> {
  const out: Array<{ metric: string; labels: string[] }> = [];
  for (const m of expr.matchAll(/\b(switchyard_[a-zA-Z0-9_]+)\s*\{([^}]*)\}/g)) {
    const labels = [...m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((l) => l[1]!);
    out.push({ metric: m[1]!, labels });
  }
  return out;
}

export interface CatalogEntry {
  type: string;
  labels: string[];
}

/** The metric tables of docs/metrics.md: | `name` | type | labels | meaning |. */
export function parseCatalog(markdown: string): Map<string, CatalogEntry> {
  const entries = new Map<string, CatalogEntry>();
  for (const line of markdown.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const name = /^`(switchyard_[a-zA-Z0-9_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (!name || cells.length < 5) continue;
    const labels = [...(cells[3] ?? '').matchAll(/`([a-zA-Z_][a-zA-Z0-9_]*)`/g)].map((m) => m[1]!);
    entries.set(name, { type: (cells[2] ?? '').split(' ')[0]!, labels });
  }
  return entries;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** Metric name (from `# TYPE`) -> type. */
  types: Map<string, string>;
  samples: Sample[];
}

/** Prometheus text format, as prom-client writes it. */
export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { types, samples };
}
