import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '#libs/testing';
import {
  collect,
  gql,
  SLEEP_JOB,
  SLEEP_VARS,
  startGatewayStack,
  wsClient,
  type GatewayStack,
} from '../gateway-support/gateway-stack.js';
import {
  baseName,
  bracketProblem,
  metricNames,
  parseCatalog,
  parseExposition,
  selectors,
  TARGET_LABELS,
  type Exposition,
} from './metrics-catalog.js';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const ALERTS_FILE = 'deploy/prometheus/alerts.yml';
const DASHBOARD_FILE = 'deploy/grafana/switchyard.json';
const CATALOG_FILE = 'docs/metrics.md';

const RULE_KEYS = new Set(['alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations']);
const DURATION = /^\d+(ms|s|m|h|d|w|y)$/;

interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ expr: string; refId: string }>;
}

const alerts = parseYaml(read(ALERTS_FILE)) as { groups: Array<{ name: string; rules: AlertRule[] }> };
const dashboard = JSON.parse(read(DASHBOARD_FILE)) as {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: string }> };
};
const catalog = parseCatalog(read(CATALOG_FILE));
const alertExprs = alerts.groups.flatMap((g) => g.rules.map((r) => ({ where: r.alert, expr: r.expr })));
const panelExprs = dashboard.panels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })),
);
const allExprs = [...alertExprs, ...panelExprs];

describe('metric catalog files', () => {
  it(`${ALERTS_FILE} is a Prometheus rule file: groups of alerts with expr, for, severity and annotations`, () => {
    expect(alerts.groups.length).toBeGreaterThan(0);
    const groupNames = alerts.groups.map((g) => g.name);
    expect(new Set(groupNames).size).toBe(groupNames.length);
    const alertNames: string[] = [];
    for (const group of alerts.groups) {
      expect(typeof group.name).toBe('string');
      expect(group.rules.length).toBeGreaterThan(0);
      for (const rule of group.rules) {
        alertNames.push(rule.alert);
        expect(Object.keys(rule).filter((k) => !RULE_KEYS.has(k))).toEqual([]);
        expect(rule.alert).toMatch(/^[A-Z][A-Za-z0-9]+$/);
        expect(typeof rule.expr).toBe('string');
        expect(rule.expr.trim()).not.toBe('');
        expect(rule.for).toMatch(DURATION);
        expect(['info', 'warning', 'critical']).toContain(rule.labels?.severity);
        expect(typeof rule.annotations?.summary).toBe('string');
        expect(typeof rule.annotations?.description).toBe('string');
      }
    }
    expect(new Set(alertNames).size).toBe(alertNames.length);
    // the cases the operations issue asks for
    const exprs = alertExprs.map((a) => a.expr).join('\n');
    for (const needed of [
      'deadline_exceeded',
      'switchyard_jobs_dead_letter',
      'switchyard_jobs_retention_due',
      'QUARANTINED',
      'unschedulable',
      'switchyard_cluster_actors',
      'switchyard_redis_memory_max_bytes',
      'switchyard_redis_eviction_policy_ok',
      'switchyard_redis_evicted_keys',
      'switchyard_gateway_subscriber_overflows_total',
    ])
      expect(exprs).toContain(needed);
  });

  it(`${DASHBOARD_FILE} is a Grafana dashboard whose panels query Prometheus`, () => {
    expect(dashboard.title).toBe('Switchyard');
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(typeof dashboard.schemaVersion).toBe('number');
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) {
      expect(typeof panel.title).toBe('string');
      const { h, w, x, y } = panel.gridPos;
      for (const n of [h, w, x, y]) expect(Number.isInteger(n) && n >= 0).toBe(true);
      expect(x + w).toBeLessThanOrEqual(24);
      if (panel.type === 'row') continue;
      expect(panel.targets?.length).toBeGreaterThan(0);
      const refIds = panel.targets!.map((t) => t.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
    }
    expect(panelExprs.length).toBeGreaterThan(20);
  });

  it('every expression has balanced brackets and quotes, and selects only labels its metric has', () => {
    const problems: string[] = [];
    for (const { where, expr } of allExprs) {
      const bracket = bracketProblem(expr);
      if (bracket) problems.push(`${where}: ${bracket} in ${expr}`);
      if (metricNames(expr).size === 0) problems.push(`${where}: uses no switchyard_ metric`);
      for (const s of selectors(expr)) {
        const entry = catalog.get(s.metric) ?? catalog.get(baseName(s.metric, new Set(catalog.keys())));
        if (!entry) continue; // unknown metrics are reported by the running-stack test
        for (const label of s.labels)
          if (!TARGET_LABELS.has(label) && !entry.labels.includes(label))
            problems.push(`${where}: ${s.metric} has no label "${label}"`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the bracket check catches what it should', () => {
    expect(bracketProblem('sum(rate(x[5m]))')).toBeNull();
    expect(bracketProblem('sum(rate(x{a=")"}[5m]))')).toBeNull();
    expect(bracketProblem('sum(rate(x[5m])')).toMatch(/unclosed/);
    expect(bracketProblem('sum(rate(x[5m)))')).toMatch(/unbalanced/);
  });
});

describe('metrics on a running stack', () => {
  let stack: GatewayStack;
  const scrapes: Record<string, Exposition> = {};
  const exposed = new Map<string, string>(); // metric -> type, over every app

  const scrape = async (app: string, url: string) => {
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    scrapes[app] = parseExposition(await res.text());
    for (const [name, type] of scrapes[app]!.types) exposed.set(name, type);
  };
  const sampleValue = (app: string, name: string, labels: Record<string, string> = {}): number =>
    scrapes[app]!.samples.filter(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    ).reduce((sum, s) => sum + s.value, 0);

  beforeAll(async () => {
    stack = await startGatewayStack({ worker: true });
    const key = (await stack.createKey('acme', ['jobs:read', 'jobs:write', 'artifacts:read'])).key;
    // One job through the gateway, watched over graphql-ws: samples for every latency histogram.
    const submitted = await gql(stack.url, key, SLEEP_JOB, SLEEP_VARS(800));
    if (!submitted.body.data) throw new Error(JSON.stringify(submitted.body.errors));
    const jobId = submitted.body.data.submitJob.id as string;
    const client = wsClient(stack.wsUrl, key);
    const sub = collect(client, 'subscription($id: ID!) { jobEvents(jobId: $id) { seq type } }', {
      id: jobId,
    });
    expect(await sub.done).toBe('complete');
    expect(sub.results.at(-1)?.data?.jobEvents.type).toBe('JOB_SUCCEEDED');
    await client.dispose();
    const named = await gql(stack.url, key, 'query MetricsProbe($id: ID!) { job(id: $id) { id status } }', {
      id: jobId,
    });
    expect(named.body.data?.job.status).toBe('SUCCEEDED');
    await scrape('gateway', stack.gateway.url);
    await scrape('jobs', stack.jobs.url);
    await scrape('artifacts', stack.artifacts.url);
    await scrape('worker', stack.worker!.url);
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const histograms = () => new Set([...exposed].filter(([, t]) => t === 'histogram').map(([n]) => n));

  /** Why a referenced series name does not exist on the stack, or null. */
  const missing = (name: string): string | null => {
    const base = baseName(name, histograms());
    if (!exposed.has(base)) return `${name}: not exposed by any app`;
    if (exposed.get(base) === 'histogram' && base === name)
      return `${name}: a histogram, query its _bucket, _sum or _count`;
    return null;
  };

  it('every metric the alert rules and the dashboard use exists', () => {
    const problems = allExprs.flatMap(({ where, expr }) =>
      [...metricNames(expr)].map(missing).flatMap((p) => (p ? [`${where}: ${p}`] : [])),
    );
    expect(problems).toEqual([]);
  });

  it(`every metric ${CATALOG_FILE} lists exists with that type, and every exposed metric is listed`, () => {
    const documented = [...catalog.entries()].flatMap(([name, entry]) => {
      if (!exposed.has(name)) return [`${name}: documented, not exposed`];
      if (exposed.get(name) !== entry.type)
        return [`${name}: documented as ${entry.type}, exposed as ${exposed.get(name)}`];
      return [];
    });
    expect(documented).toEqual([]);
    expect([...exposed.keys()].filter((name) => !catalog.has(name))).toEqual([]);
    // every name the page mentions anywhere (prose, alert table) is a real metric
    const mentioned = [...metricNames(read(CATALOG_FILE))];
    expect(mentioned.filter((n) => !exposed.has(baseName(n, histograms())))).toEqual([]);
  });

  it('every app exposes only switchyard_ metrics, with its service label and the process metrics', () => {
    for (const [app, service] of [
      ['gateway', 'gateway'],
      ['jobs', 'jobs-subgraph'],
      ['artifacts', 'artifacts-subgraph'],
      ['worker', 'gpu-worker'],
    ] as const) {
      const { types, samples } = scrapes[app]!;
      expect([...types.keys()].filter((n) => !n.startsWith('switchyard_'))).toEqual([]);
      expect(types.get('switchyard_process_cpu_seconds_total')).toBe('counter');
      expect(samples.find((s) => s.name === 'switchyard_process_cpu_seconds_total')?.labels.service).toBe(
        service,
      );
    }
  });

  it('the latency histograms have samples from the job', () => {
    expect(
      sampleValue('gateway', 'switchyard_gateway_operation_duration_seconds_count', {
        type: 'mutation',
        name: 'anonymous',
        outcome: 'ok',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sampleValue('gateway', 'switchyard_gateway_operation_duration_seconds_count', {
        type: 'query',
        name: 'MetricsProbe',
        outcome: 'ok',
      }),
    ).toBe(1);
    expect(sampleValue('jobs', 'switchyard_node_schedule_to_start_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(
      sampleValue('jobs', 'switchyard_event_delivery_lag_seconds_count', { stream: 'job' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sampleValue('worker', 'switchyard_worker_queue_wait_seconds_count', { task: 'test.sleep' })).toBe(
      1,
    );
    const attempt = { task: 'test.sleep', outcome: 'succeeded' };
    expect(sampleValue('worker', 'switchyard_worker_attempt_duration_seconds_count', attempt)).toBe(1);
    // the task slept 800 ms: the recorded duration covers it
    expect(sampleValue('worker', 'switchyard_worker_attempt_duration_seconds_sum', attempt)).toBeGreaterThan(
      0.7,
    );
  });

  it('the cluster gauges read Redis and the live workers', () => {
    expect(sampleValue('jobs', 'switchyard_redis_up')).toBe(1);
    expect(sampleValue('jobs', 'switchyard_redis_memory_used_bytes')).toBeGreaterThan(0);
    expect(scrapes.jobs!.samples.some((s) => s.name === 'switchyard_redis_memory_max_bytes')).toBe(true);
    expect(sampleValue('jobs', 'switchyard_jobs_dead_letter')).toBe(0);
    // the job just finished: nothing is past JOB_RETENTION_DAYS (30), but the gauge is read (a sample exists)
    expect(scrapes.jobs!.samples.some((s) => s.name === 'switchyard_jobs_retention_due')).toBe(true);
    expect(sampleValue('jobs', 'switchyard_jobs_retention_due')).toBe(0);
    expect(
      sampleValue('jobs', 'switchyard_cluster_actors', { resource_class: 'cpu', state: 'IDLE' }) +
        sampleValue('jobs', 'switchyard_cluster_actors', { resource_class: 'cpu', state: 'BUSY' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sampleValue('jobs', 'switchyard_cluster_actors', { state: 'QUARANTINED' })).toBe(0);
  });
});
