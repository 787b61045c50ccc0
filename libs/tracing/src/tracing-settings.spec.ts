import { ConfigError } from '#libs/config';
import { serviceNameOf, tracingSettings } from './tracing-settings.js';

describe('tracingSettings', () => {
  const main = '/app/dist/apps/gateway/src/main.js';

  it('is off without an OTLP endpoint, whatever else is set', () => {
    expect(tracingSettings({}, main)).toEqual({ enabled: false, reason: 'no OTEL_EXPORTER_OTLP_ENDPOINT' });
    expect(tracingSettings({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, main).enabled).toBe(
      false,
    );
  });

  it('is on with an endpoint, appending the traces path and naming the service after the app', () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }, main)).toEqual({
      enabled: true,
      serviceName: 'gateway',
      endpoint: 'http://collector:4318/v1/traces',
      sampler: 'parentbased_traceidratio',
      sampleRatio: 1,
    });
  });

  it('uses a traces-specific endpoint as given, and OTEL_SERVICE_NAME over the app name', () => {
    expect(
      tracingSettings(
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://otel.example.com/custom/traces',
          OTEL_SERVICE_NAME: 'edge-gateway',
        },
        main,
      ),
    ).toEqual({
      enabled: true,
      serviceName: 'edge-gateway',
      endpoint: 'https://otel.example.com/custom/traces',
      sampler: 'parentbased_traceidratio',
      sampleRatio: 1,
    });
  });

  it('takes the share of traces kept from OTEL_TRACES_SAMPLER_ARG, between 0 and 1', () => {
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
    expect(tracingSettings({ ...on, OTEL_TRACES_SAMPLER_ARG: '0.25' }, main)).toMatchObject({
      sampleRatio: 0.25,
    });
    expect(() => tracingSettings({ ...on, OTEL_TRACES_SAMPLER_ARG: '2' }, main)).toThrow(
      /OTEL_TRACES_SAMPLER_ARG: expected a number between 0 and 1/,
    );
  });

  it('takes the sampler from OTEL_TRACES_SAMPLER (the standard names), its ratio only for traceidratio', () => {
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER_ARG: '0.5' };
    expect(tracingSettings({ ...on, OTEL_TRACES_SAMPLER: 'traceidratio' }, main)).toMatchObject({
      sampler: 'traceidratio',
      sampleRatio: 0.5,
    });
    expect(tracingSettings({ ...on, OTEL_TRACES_SAMPLER: 'parentbased_always_off' }, main)).toMatchObject({
      sampler: 'parentbased_always_off',
      sampleRatio: 1,
    });
    expect(() => tracingSettings({ ...on, OTEL_TRACES_SAMPLER: 'jaeger_remote' }, main)).toThrow(
      /OTEL_TRACES_SAMPLER: expected one of always_on, always_off, traceidratio/,
    );
  });

  it('stays off when OTEL_SDK_DISABLED is set, even with an endpoint', () => {
    const s = tracingSettings(
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' },
      main,
    );
    expect(s).toEqual({ enabled: false, reason: 'OTEL_SDK_DISABLED is set' });
  });

  it('refuses a malformed endpoint, naming the variable', () => {
    expect(() => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, main)).toThrow(
      ConfigError,
    );
    expect(() => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://c' }, main)).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT: expected a http or https URL/,
    );
  });
});

describe('serviceNameOf', () => {
  it('names an app after its folder, anything else after its file', () => {
    expect(serviceNameOf('/app/dist/apps/jobs-subgraph/src/main.js')).toBe('jobs-subgraph');
    expect(serviceNameOf('C:\\sy\\dist\\apps\\gpu-worker\\src\\main.js')).toBe('gpu-worker');
    expect(serviceNameOf('/repo/scripts/bench.mjs')).toBe('bench');
    expect(serviceNameOf(undefined)).toBe('switchyard');
  });
});
