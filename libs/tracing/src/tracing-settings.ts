import { basename } from 'node:path';
import { z } from 'zod';
import { flag, loadConfig, url } from '#libs/config';

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
  /** Share of new traces kept (0..1). Spans inside a trace follow its root's decision. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number({ message: 'expected a number between 0 and 1' })
    .min(0, 'expected a number between 0 and 1')
    .max(1, 'expected a number between 0 and 1')
    .default(1),
};

export type TracingSettings =
  | { enabled: false; reason: string }
  | { enabled: true; serviceName: string; endpoint: string; sampleRatio: number };

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
    sampleRatio: c.OTEL_TRACES_SAMPLER_ARG,
  };
}

/** `.../apps/<app>/src/main.js` → `<app>`; any other script → its file name without extension. */
export function serviceNameOf(entry: string | undefined): string {
  if (!entry) return 'switchyard';
  const app = /[\\/]apps[\\/]([^\\/]+)[\\/]src[\\/]main\.[cm]?[jt]s$/.exec(entry);
  if (app) return app[1]!;
  return basename(entry).replace(/\.[cm]?[jt]s$/, '') || 'switchyard';
}
