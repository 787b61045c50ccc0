// For tracing.spec.ts: import the tracing lib the way an app does, then report what it left behind, as one
// JSON line: its decision, whether any OpenTelemetry SDK module got loaded, whether a tracer provider was
// registered globally, and the signal listeners it added.
import { tracing } from '#libs/tracing';
import { createRequire } from 'node:module';

const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) =>
  /[\\/]@opentelemetry[\\/](sdk-|exporter-|instrumentation)/.test(p),
);
const otelGlobal = globalThis[Symbol.for('opentelemetry.js.api.1')];
process.stdout.write(
  `${JSON.stringify({
    tracing,
    loadedSdkModules: loaded.length,
    tracerProviderRegistered: Boolean(otelGlobal?.trace),
    sigtermListeners: process.listenerCount('SIGTERM'),
  })}\n`,
);
