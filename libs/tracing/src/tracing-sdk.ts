import { createRequire } from 'node:module';
import { arch, hostname } from 'node:os';
import type * as OtelApi from '@opentelemetry/api';
import type * as SdkNode from '@opentelemetry/sdk-node';
import type * as OtlpHttp from '@opentelemetry/exporter-trace-otlp-http';
import type * as HttpInstrumentationModule from '@opentelemetry/instrumentation-http';
import type * as ExpressInstrumentationModule from '@opentelemetry/instrumentation-express';
import type * as GraphQLInstrumentationModule from '@opentelemetry/instrumentation-graphql';
import type * as IORedisInstrumentationModule from '@opentelemetry/instrumentation-ioredis';
import type * as UndiciInstrumentationModule from '@opentelemetry/instrumentation-undici';
import { redisStatement } from './redis-statement.js';
import { samplerFor } from './root-sampler.js';
import type { TracesSampler } from './tracing-settings.js';

/** Longest value of a span attribute; longer ones are cut by the SDK. */
export const SPAN_ATTRIBUTE_MAX_LENGTH = 4096;

/** How long a flush on shutdown may take before the process exits anyway. */
const SHUTDOWN_TIMEOUT_MS = 5_000;

// The SDK is loaded synchronously and only when tracing is on: synchronously, because this runs as the
// first import of an app and the modules after it must be evaluated with the instrumentations already in
// place (an `await import()` here would let them run first); only when on, so a process without an
// endpoint pays nothing for it. The OpenTelemetry packages are CommonJS, so `require` loads them.
const requireOtel = createRequire(import.meta.url);

export interface RunningTracing {
  serviceName: string;
  endpoint: string;
  /** Flush buffered spans and stop; idempotent, bounded by SHUTDOWN_TIMEOUT_MS. */
  shutdown(): Promise<void>;
}

/**
 * Start the OpenTelemetry Node SDK: traces only (metrics stay on prom-client's /metrics), exported as
 * OTLP/HTTP JSON to `endpoint`, with http (server and client), express, graphql, ioredis and undici
 * (Node's fetch) instrumentations. W3C trace context is propagated on outgoing requests, so a gateway
 * request and the subgraph requests it makes share one trace.
 */
export function startTracing(o: {
  serviceName: string;
  endpoint: string;
  sampler: TracesSampler;
  sampleRatio: number;
}): RunningTracing {
  const api = requireOtel('@opentelemetry/api') as typeof OtelApi;
  const { NodeSDK, tracing, resources } = requireOtel('@opentelemetry/sdk-node') as typeof SdkNode;
  const { OTLPTraceExporter } = requireOtel('@opentelemetry/exporter-trace-otlp-http') as typeof OtlpHttp;
  const { HttpInstrumentation } = requireOtel(
    '@opentelemetry/instrumentation-http',
  ) as typeof HttpInstrumentationModule;
  const { ExpressInstrumentation } = requireOtel(
    '@opentelemetry/instrumentation-express',
  ) as typeof ExpressInstrumentationModule;
  const { GraphQLInstrumentation } = requireOtel(
    '@opentelemetry/instrumentation-graphql',
  ) as typeof GraphQLInstrumentationModule;
  const { IORedisInstrumentation } = requireOtel(
    '@opentelemetry/instrumentation-ioredis',
  ) as typeof IORedisInstrumentationModule;
  const { UndiciInstrumentation } = requireOtel(
    '@opentelemetry/instrumentation-undici',
  ) as typeof UndiciInstrumentationModule;

  // Export failures (collector down, rejected batch) are otherwise silent: report them as log lines.
  api.diag.setLogger(diagLogger(o.serviceName), api.DiagLogLevel.WARN);

  const sdk = new NodeSDK({
    serviceName: o.serviceName,
    // Only detectors that answer at once: the default host detector reads host.id asynchronously, and spans
    // ended before it settles make the SDK log an error. In a container the host name is the container id.
    resourceDetectors: [resources.envDetector, resources.processDetector],
    resource: resources
      .defaultResource()
      .merge(resources.resourceFromAttributes({ 'host.name': hostname(), 'host.arch': arch() })),
    traceExporter: new OTLPTraceExporter({ url: o.endpoint }),
    sampler: samplerFor(tracing, o.sampler, o.sampleRatio),
    // Bounds every attribute (a GET's URL, a GraphQL document of up to MAX_BODY_BYTES): a client must not
    // choose how big the spans we export are.
    spanLimits: { attributeValueLengthLimit: SPAN_ATTRIBUTE_MAX_LENGTH },
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes every few seconds would drown the real traffic.
        ignoreIncomingRequestHook: (req) => /^\/(health\/|metrics\b)/.test(req.url ?? ''),
      }),
      new ExpressInstrumentation(),
      new GraphQLInstrumentation({ mergeItems: true, ignoreTrivialResolveSpans: true }),
      new IORedisInstrumentation({ dbStatementSerializer: redisStatement }),
      new UndiciInstrumentation(),
    ],
  });
  sdk.start();
  logLine('info', o.serviceName, 'tracing on: exporting spans over OTLP/HTTP', {
    endpoint: o.endpoint,
    sampler: o.sampler,
    sampleRatio: o.sampleRatio,
  });

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    (stopping ??= Promise.race([
      sdk.shutdown().catch((e: unknown) => {
        logLine('warn', o.serviceName, 'tracing shutdown failed', { err: String(e) });
      }),
      new Promise<void>((r) => setTimeout(r, SHUTDOWN_TIMEOUT_MS).unref()),
    ]));

  // Flush as soon as the process is told to stop, while the app closes. When nothing else handles the
  // signal (it came before the app installed its own handler), re-raise it after the flush so the
  // process still ends the way it would have without tracing.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      const handledElsewhere = process.listenerCount(signal) > 0;
      void shutdown().then(() => {
        if (!handledElsewhere) process.kill(process.pid, signal);
      });
    });
  }
  process.once('beforeExit', () => void shutdown());

  return { serviceName: o.serviceName, endpoint: o.endpoint, shutdown };
}

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** One JSON line in the shape of our pino logs (#libs/observability), so tracing's messages join that stream. */
function logLine(level: Level, service: string, msg: string, extra: Record<string, unknown> = {}): void {
  const line = {
    level,
    time: new Date().toISOString(),
    service,
    pid: process.pid,
    component: 'tracing',
    ...extra,
    msg,
  };
  (level === 'warn' || level === 'error' ? process.stderr : process.stdout).write(
    `${JSON.stringify(line)}\n`,
  );
}

function diagLogger(service: string): OtelApi.DiagLogger {
  const at =
    (level: Level) =>
    (message: string, ...args: unknown[]) =>
      logLine(level, service, message, args.length ? { args: args.map(String) } : {});
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), verbose: at('trace') };
}
