import { getHeapStatistics } from 'node:v8';
import { defaultBufferedBytesTotal, loadGatewayConfig } from './gateway-config.js';

const PROD = { NODE_ENV: 'production', SWITCHYARD_IDENTITY_SECRET: 'p'.repeat(40) };

describe('gateway configuration: production defaults and document limits', () => {
  it('turns the playground off in production unless PLAYGROUND enables it', () => {
    expect(loadGatewayConfig({}).playground).toBe(true);
    expect(loadGatewayConfig(PROD).playground).toBe(false);
    expect(loadGatewayConfig({ ...PROD, PLAYGROUND: '1' }).playground).toBe(true);
    expect(loadGatewayConfig({ PLAYGROUND: '0' }).playground).toBe(false);
  });

  it('puts /metrics behind an admin key in production unless METRICS_REQUIRE_ADMIN=0', () => {
    expect(loadGatewayConfig({}).metricsRequireAdmin).toBe(false);
    expect(loadGatewayConfig(PROD).metricsRequireAdmin).toBe(true);
    expect(loadGatewayConfig({ ...PROD, METRICS_REQUIRE_ADMIN: '0' }).metricsRequireAdmin).toBe(false);
    expect(loadGatewayConfig({ METRICS_REQUIRE_ADMIN: 'yes' }).metricsRequireAdmin).toBe(true);
  });

  it('reads the subscriber buffer as SUBSCRIBER_BUFFER, still accepting the deprecated SUBSCRIPTION_BUFFER', () => {
    expect(loadGatewayConfig({}).subscriberBuffer).toEqual({ capacity: 512 });
    expect(loadGatewayConfig({ SUBSCRIBER_BUFFER: '64' }).subscriberBuffer).toEqual({ capacity: 64 });
    expect(loadGatewayConfig({ SUBSCRIPTION_BUFFER: '32' }).subscriberBuffer).toMatchObject({
      capacity: 32,
      deprecation: expect.stringMatching(/SUBSCRIPTION_BUFFER is deprecated/),
    });
    expect(() => loadGatewayConfig({ SUBSCRIBER_BUFFER: '0' })).toThrow(/SUBSCRIBER_BUFFER/);
  });

  it('bounds the bytes of unread subscription events per key (32 MiB) and in all (a quarter of the heap, at most 128 MiB): 0 turns each off, nonsense refused', () => {
    expect(loadGatewayConfig({}).BUFFERED_BYTES_PER_KEY).toBe(32 * 1024 * 1024);
    expect(loadGatewayConfig({ BUFFERED_BYTES_PER_KEY: '0' }).BUFFERED_BYTES_PER_KEY).toBe(0);
    expect(() => loadGatewayConfig({ BUFFERED_BYTES_PER_KEY: '-1' })).toThrow(/BUFFERED_BYTES_PER_KEY/);
    expect(() => loadGatewayConfig({ BUFFERED_BYTES_PER_KEY: '1MB' })).toThrow(/BUFFERED_BYTES_PER_KEY/);
    expect(loadGatewayConfig({}).BUFFERED_BYTES_TOTAL).toBe(
      Math.min(128 * 1024 * 1024, Math.floor(getHeapStatistics().heap_size_limit / 4)),
    );
    // node's heap limit in the compose file's 768 MiB container, and on this 24 GB machine
    expect(defaultBufferedBytesTotal(396 * 1024 * 1024)).toBe(99 * 1024 * 1024);
    expect(defaultBufferedBytesTotal(4144 * 1024 * 1024)).toBe(128 * 1024 * 1024);
    expect(loadGatewayConfig({ BUFFERED_BYTES_TOTAL: '0' }).BUFFERED_BYTES_TOTAL).toBe(0);
    expect(() => loadGatewayConfig({ BUFFERED_BYTES_TOTAL: '-5' })).toThrow(/BUFFERED_BYTES_TOTAL/);
  });

  it('bounds the API key cache TTL to a second, with a clear message; caches have defaults and can be off', () => {
    const c = loadGatewayConfig({});
    expect([c.API_KEY_CACHE_TTL_MS, c.API_KEY_CACHE_MAX_ENTRIES, c.DOCUMENT_CACHE_BYTES]).toEqual([
      750,
      10_000,
      32 * 1024 * 1024,
    ]);
    expect(loadGatewayConfig({ API_KEY_CACHE_TTL_MS: '0', DOCUMENT_CACHE_BYTES: '0' })).toMatchObject({
      API_KEY_CACHE_TTL_MS: 0,
      DOCUMENT_CACHE_BYTES: 0,
    });
    expect(() => loadGatewayConfig({ API_KEY_CACHE_TTL_MS: '5000' })).toThrow(
      /API_KEY_CACHE_TTL_MS.*at most 1000: a revoked key must stop working within a second/s,
    );
    expect(() => loadGatewayConfig({ API_KEY_CACHE_TTL_MS: '-1' })).toThrow(/API_KEY_CACHE_TTL_MS/);
    expect(() => loadGatewayConfig({ API_KEY_CACHE_MAX_ENTRIES: '0' })).toThrow(/API_KEY_CACHE_MAX_ENTRIES/);
  });

  it('rate-limit leases: 250 ms by default, 0 turns them off, at most a second', () => {
    expect(loadGatewayConfig({}).RATE_LIMIT_LEASE_MS).toBe(250);
    expect(loadGatewayConfig({ RATE_LIMIT_LEASE_MS: '0' }).RATE_LIMIT_LEASE_MS).toBe(0);
    expect(() => loadGatewayConfig({ RATE_LIMIT_LEASE_MS: '1500' })).toThrow(
      /RATE_LIMIT_LEASE_MS.*at most 1000/s,
    );
    expect(() => loadGatewayConfig({ RATE_LIMIT_LEASE_MS: 'soon' })).toThrow(/RATE_LIMIT_LEASE_MS/);
  });

  it('reads every document limit from the environment, with the documented defaults', () => {
    expect(loadGatewayConfig({}).guardLimits).toEqual({
      maxBytes: 65_536,
      maxTokens: 5_000,
      maxDefinitions: 50,
      maxFragmentSpreads: 200,
      maxStringBytes: 16_384,
      maxDepth: 12,
      maxAliases: 30,
      maxRootFields: 20,
      maxCost: 25_000,
      maxSelections: 10_000,
      maxDirectives: 50,
      defaultListSize: 20,
    });
    const c = loadGatewayConfig({
      MAX_DOCUMENT_BYTES: '1000',
      MAX_QUERY_TOKENS: '100',
      MAX_QUERY_DEFINITIONS: '3',
      MAX_FRAGMENT_SPREADS: '0',
      MAX_STRING_BYTES: '10',
      MAX_RECURSIVE_SELECTIONS: '50',
      MAX_QUERY_DIRECTIVES: '0',
      SUBSCRIPTION_PLAN_CACHE_BYTES: '1024',
    });
    expect(c.guardLimits).toMatchObject({
      maxBytes: 1000,
      maxTokens: 100,
      maxDefinitions: 3,
      maxFragmentSpreads: 0,
      maxStringBytes: 10,
      maxSelections: 50,
      maxDirectives: 0,
    });
    expect(c.SUBSCRIPTION_PLAN_CACHE_BYTES).toBe(1024);
    expect(() => loadGatewayConfig({ MAX_QUERY_TOKENS: '0' })).toThrow(/MAX_QUERY_TOKENS/);
  });
});
