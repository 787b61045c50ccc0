/**
 * OpenTelemetry tracing, started by importing this module. Each app's main.ts imports it FIRST
 * (`import '#libs/tracing';`), so the instrumentations are in place before express, graphql, ioredis and
 * node:http are loaded. This is the one module that acts on import, because tracing only works that way.
 *
 * Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: then nothing is
 * loaded and no connection is ever attempted. A malformed OTEL_* variable stops the process with exit
 * code 78, like any other bad configuration.
 */
import { ConfigError } from '#libs/config';
import { startTracing, type RunningTracing } from './tracing-sdk.js';
import { tracingSettings, type TracingSettings } from './tracing-settings.js';

export { tracingEnv, tracingSettings, serviceNameOf, type TracingSettings } from './tracing-settings.js';
export type { RunningTracing } from './tracing-sdk.js';

function startFromEnv(): { settings: TracingSettings; running: RunningTracing | null } {
  let settings: TracingSettings;
  try {
    settings = tracingSettings(process.env, process.argv[1]);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`tracing: ${e.message}\n`);
    process.exit(78);
  }
  return { settings, running: settings.enabled ? startTracing(settings) : null };
}

const state = startFromEnv();

/** What this process decided at start: whether tracing is on, and if not, why. */
export const tracing: TracingSettings = state.settings;

/** Flush buffered spans and stop tracing (a no-op when tracing is off). Safe to call more than once. */
export function shutdownTracing(): Promise<void> {
  return state.running?.shutdown() ?? Promise.resolve();
}
