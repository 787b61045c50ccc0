import { basename } from 'node:path';
import { z } from 'zod';
import { flag, loadConfig, url } from '#libs/config';

/** OTEL_TRACES_SAMPLER values (the OpenTelemetry SDK configuration's names; no jaeger/xray remote ones). */
export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TracesSampler = (typeof TRACES_SAMPLERS)[number];

/**
 * The standard OpenTelemetry variables we act on. The OTLP exporter itself also reads the other standard
 * ones (OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_BSP_*, OTEL_TRACES_SAMPLER, ...).
 */
export const tracingEnv = {
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http', 'https'], 'http://otel-collector:4318').optional(),
  /** Signal-specific endpoint (used as is, no /v1/traces appended); also turns tracing on. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url(
    ['http', 'https'],
    'http://otel-collector:4318/v1/traces',
  ).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  OTEL_SDK_DISABLED: flag(false),
  /**
   * The standard sampler names. The parentbased_* ones (the default among them) keep or drop a trace as a
   * whole: spans follow their parent's decision, and only a root is sampled by the named rule.
   */
  OTEL_TRACES_SAMPLER: z
    .enum(TRACES_SAMPLERS, { message: `expected one of ${TRACES_SAMPLERS.join(', ')}` })
    .default('parentbased_traceidratio'),
  /** Share of traces kept (0..1) by the traceidratio samplers; 1 by default (keep all). */
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number({ message: 'expected a number between 0 and 1' })
    .min(0, 'expected a number between 0 and 1')
    .max(1, 'expected a number between 0 and 1')
    .default(1),
};

export type TracingSettings =
  | { enabled: false; reason: string }
  | {
      enabled: true;
      serviceName: string;
      endpoint: string;
      sampler: TracesSampler;
      /** For the traceidratio samplers (1 otherwise). */
      sampleRatio: number;
    };

/**
 * Decide whether this process exports traces. Off unless an OTLP endpoint is configured, so a process
 * without one never loads the SDK nor opens a connection. Throws ConfigError on a malformed variable.
 *
 * `entry` is the script being run (process.argv[1]); `dist/apps/<app>/src/main.js` names the service
 * `<app>` when OTEL_SERVICE_NAME is not set.
 */
export function tracingSettings(env: NodeJS.ProcessEnv, entry: string | undefined): TracingSettings {
  const c = loadConfig(tracingEnv, env);
  if (c.OTEL_SDK_DISABLED) return { enabled: false, reason: 'OTEL_SDK_DISABLED is set' };
  const endpoint =
    c.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (c.OTEL_EXPORTER_OTLP_ENDPOINT && `${c.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`);
  if (!endpoint) return { enabled: false, reason: 'no OTEL_EXPORTER_OTLP_ENDPOINT' };
  return {
    enabled: true,
    serviceName: c.OTEL_SERVICE_NAME ?? serviceNameOf(entry),
    endpoint,
    sampler: c.OTEL_TRACES_SAMPLER,
    sampleRatio: c.OTEL_TRACES_SAMPLER.endsWith('traceidratio') ? c.OTEL_TRACES_SAMPLER_ARG : 1,
  };
}

/** `.../apps/<app>/src/main.js` → `<app>`; any other script → its file name without extension. */
export function serviceNameOf(entry: string | undefined): string {
  if (!entry) return 'switchyard';
  const app = /[\\/]apps[\\/]([^\\/]+)[\\/]src[\\/]main\.[cm]?[jt]s$/.exec(entry);
  if (app) return app[1]!;
  return basename(entry).replace(/\.[cm]?[jt]s$/, '') || 'switchyard';
}
