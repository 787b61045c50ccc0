// Real processes: the fixtures next to this file import the BUILT tracing lib (dist/), so build first.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { freePort, REPO_ROOT, startRedis, waitFor, type RedisHandle } from '#libs/testing';

const PRELOAD = './dist/libs/tracing/src/register.js';
const TRACED_SERVER = 'libs/tracing/test/traced-server.mjs';
const PROBE = 'libs/tracing/test/tracing-probe.mjs';
const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 };

interface ReceivedSpan {
  service: string | undefined;
  scope: string;
  kind: number;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
}

/** A minimal OTLP/HTTP receiver: accepts JSON trace exports on /v1/traces and keeps every span. */
async function startReceiver(): Promise<{
  endpoint: string;
  spans: ReceivedSpan[];
  contentTypes: string[];
  close(): Promise<void>;
}> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      contentTypes.push(String(req.headers['content-type']));
      if (req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/json')) {
        res.writeHead(415).end();
        return;
      }
      for (const rs of JSON.parse(body).resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a: { key: string }) => a.key === 'service.name')?.value
          ?.stringValue;
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? [])
            spans.push({
              service,
              scope: ss.scope.name,
              kind: s.kind,
              name: s.name,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              attributes: Object.fromEntries(
                (s.attributes ?? []).map((a: { key: string; value: { stringValue?: unknown } }) => [
                  a.key,
                  a.value?.stringValue,
                ]),
              ),
            });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface NodeRun {
  proc: ChildProcess;
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/** Run node on a fixture with a clean OTEL_* environment plus `env`. */
function runNode(args: string[], env: Record<string, string>): NodeRun {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  const proc = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...base, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      r({ code, signal });
    }),
  );
  return { proc, output: () => out, exit };
}

async function listeningPort(run: NodeRun): Promise<number> {
  const m = await waitFor(() => /\{"port":(\d+)\}/.exec(run.output()), {
    timeoutMs: 20_000,
    what: 'traced fixture listening',
    logs: run.output,
  });
  return Number(m[1]);
}

afterEach(() => {
  for (const p of running) p.kill('SIGKILL');
});

describe('tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  it.each([
    ['the in-app import', [PROBE]],
    ['the --import preload', ['--import', PRELOAD, PROBE]],
  ])('through %s, loads no SDK, registers no provider and adds no signal handler', async (_how, args) => {
    const run = runNode(args, {});
    expect(await run.exit).toEqual({ code: 0, signal: null });
    expect(JSON.parse(run.output().trim())).toEqual({
      tracing: { enabled: false, reason: 'no OTEL_EXPORTER_OTLP_ENDPOINT' },
      loadedSdkModules: 0,
      tracerProviderRegistered: false,
      sigtermListeners: 0,
    });
  });

  it('a malformed OTEL variable stops the process with exit code 78, naming it', async () => {
    const run = runNode([PROBE], { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' });
    expect((await run.exit).code).toBe(78);
    expect(run.output()).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT: expected a http or https URL/);
  });
});

describe('tracing on', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let redis: RedisHandle;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await receiver?.close();
  });

  it('with the preload, exports one trace of http, express, ioredis and fetch spans, flushed on SIGTERM', async () => {
    const run = runNode(['--import', PRELOAD, TRACED_SERVER], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: 'traced-fixture',
      // Nothing is exported on a timer within this test: what arrives was flushed by the shutdown.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      REDIS_URL: redis.url,
    });
    const port = await listeningPort(run);
    const res = await fetch(`http://127.0.0.1:${port}/items/7`);
    expect(await res.json()).toEqual({ id: '7', inner: { ok: true } });
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.spans).toHaveLength(0);

    run.proc.kill('SIGTERM');
    // The fixture has no handler of its own: tracing flushes, then re-raises the signal.
    expect(await run.exit).toEqual({ code: null, signal: 'SIGTERM' });
    const spans = receiver.spans;
    expect(receiver.contentTypes.every((t) => t.startsWith('application/json'))).toBe(true);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['traced-fixture']));

    const server = spans.find((s) => s.kind === KIND.SERVER && s.name === 'GET /items/:id');
    expect(server).toBeDefined();
    const trace = spans.filter((s) => s.traceId === server!.traceId);
    const by = (scope: string, kind: number) =>
      trace.filter((s) => s.scope === `@opentelemetry/instrumentation-${scope}` && s.kind === kind);
    expect(by('express', KIND.INTERNAL).length).toBeGreaterThan(0);
    expect(by('ioredis', KIND.CLIENT).map((s) => s.name)).toEqual(['set']);
    // fetch → /plain: the client span's context travelled in traceparent and parents the inner server span.
    const [fetchSpan] = by('undici', KIND.CLIENT);
    expect(fetchSpan).toBeDefined();
    const inner = trace.find((s) => s.kind === KIND.SERVER && s.name === 'GET /plain');
    expect(inner?.parentSpanId).toBe(fetchSpan!.spanId);
  });

  // Spans go to a shared trace backend: a Lua step's arguments (a tenant's labels, params, graph) must not
  // ride along in a Redis span, and no attribute may be as big as what a client sent (a URL, a document).
  it("exports neither a Lua step's arguments nor attributes past 4096 characters", async () => {
    const run = runNode(['--import', PRELOAD, TRACED_SERVER], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: 'traced-fixture',
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      REDIS_URL: redis.url,
    });
    const port = await listeningPort(run);
    const marker = 'tenant-private-label-value';
    const res = await fetch(`http://127.0.0.1:${port}/lua/9?pad=${'y'.repeat(6000)}`, {
      headers: { 'x-payload': `${marker} ${'x'.repeat(6000)}` },
    });
    expect(res.status).toBe(200);
    run.proc.kill('SIGTERM');
    await run.exit;
    const server = receiver.spans.find((s) => s.kind === KIND.SERVER && s.name === 'GET /lua/:id')!;
    const trace = receiver.spans.filter((s) => s.traceId === server.traceId);
    const lua = trace.find((s) => s.scope === '@opentelemetry/instrumentation-ioredis');
    expect(lua?.name).toBe('eval');
    // the command and its key stay: what operators need to tell the steps apart
    expect(JSON.stringify(lua!.attributes)).toContain('traced:9');
    const leaks = trace.flatMap((s) =>
      Object.entries(s.attributes)
        .filter(([, v]) => typeof v === 'string' && v.includes(marker))
        .map(([k]) => `${s.name} ${k}`),
    );
    expect(leaks).toEqual([]);
    const longest = Math.max(
      ...trace.flatMap((s) => Object.values(s.attributes).map((v) => (typeof v === 'string' ? v.length : 0))),
    );
    expect(longest).toBeLessThanOrEqual(4096);
  });

  it('with only the in-app import, node:http and fetch are traced and exported on the batch timer', async () => {
    const run = runNode([TRACED_SERVER], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    const port = await listeningPort(run);
    expect((await fetch(`http://127.0.0.1:${port}/items/8`)).status).toBe(200);
    await waitFor(() => receiver.spans.some((s) => s.kind === KIND.SERVER && s.name.startsWith('GET')), {
      timeoutMs: 10_000,
      what: 'server span exported',
      logs: run.output,
    });
    // Named after the script when OTEL_SERVICE_NAME is unset.
    expect(receiver.spans[0]!.service).toBe('traced-server');
    const server = receiver.spans.find((s) => s.kind === KIND.SERVER)!;
    await waitFor(() => receiver.spans.some((s) => s.kind === KIND.CLIENT && s.traceId === server.traceId), {
      timeoutMs: 10_000,
      what: 'fetch span in the same trace',
    });
    run.proc.kill('SIGTERM');
    expect((await run.exit).signal).toBe('SIGTERM');
  });
});
