import { ConfigError, loadConfig } from '#libs/config';
import { loadJobsSubgraphConfig } from './jobs-config.js';
import { artifactPolicyEnv } from '#libs/storage';

describe('jobs subgraph configuration (compiled)', () => {
  it.each([
    [{}, { baseMs: 1_000, capMs: 60_000 }],
    [
      { SCHEDULER_BACKOFF_BASE_MS: '500', SCHEDULER_BACKOFF_CAP_MS: '500' },
      { baseMs: 500, capMs: 500 },
    ],
  ])('compiles the retry backoff from %j', (env, backoff) => {
    expect(loadJobsSubgraphConfig(env).backoff).toEqual(backoff);
  });

  it('refuses a backoff base above its cap, naming both', () => {
    const e = (() => {
      try {
        loadJobsSubgraphConfig({ SCHEDULER_BACKOFF_BASE_MS: '90000' });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toMatch(
      /SCHEDULER_BACKOFF_BASE_MS: at most SCHEDULER_BACKOFF_CAP_MS \(60000\)/,
    );
  });

  it("reads the artifact quotas with the artifacts subgraph's names, defaults and meaning (0 = off)", () => {
    for (const env of [
      {},
      { TENANT_MAX_STORED_BYTES: '0', TENANT_MAX_ARTIFACTS: '0' },
      { TENANT_MAX_STORED_BYTES: '1024', TENANT_MAX_ARTIFACTS: '7' },
    ]) {
      const jobs = loadJobsSubgraphConfig(env);
      // the artifacts subgraph's own quota env (artifacts-config.ts spreads it)
      const artifacts = loadConfig(artifactPolicyEnv, env);
      expect(jobs.TENANT_MAX_STORED_BYTES).toBe(artifacts.TENANT_MAX_STORED_BYTES);
      expect(jobs.TENANT_MAX_ARTIFACTS).toBe(artifacts.TENANT_MAX_ARTIFACTS);
    }
    expect(loadJobsSubgraphConfig({})).toMatchObject({
      TENANT_MAX_STORED_BYTES: 50 * 1024 ** 3,
      TENANT_MAX_ARTIFACTS: 100_000,
    });
    for (const [name, bad] of [
      ['TENANT_MAX_STORED_BYTES', '-1'],
      ['TENANT_MAX_ARTIFACTS', 'lots'],
    ])
      expect(() => loadJobsSubgraphConfig({ [name]: bad })).toThrow(new RegExp(`${name}: expected`));
  });

  it("reads a job's log budget (JOB_LOG_MAX_BYTES: default 1 MiB, 0 = none), refusing bad values at start-up", () => {
    expect(loadJobsSubgraphConfig({}).JOB_LOG_MAX_BYTES).toBe(1024 * 1024);
    expect(loadJobsSubgraphConfig({ JOB_LOG_MAX_BYTES: '0' }).JOB_LOG_MAX_BYTES).toBe(0);
    expect(loadJobsSubgraphConfig({ JOB_LOG_MAX_BYTES: '65536' }).JOB_LOG_MAX_BYTES).toBe(65_536);
    for (const bad of ['-1', '1.5', 'lots'])
      expect(() => loadJobsSubgraphConfig({ JOB_LOG_MAX_BYTES: bad })).toThrow(/JOB_LOG_MAX_BYTES: expected/);
  });

  it('reads the shared subscriber buffer setting', () => {
    expect(loadJobsSubgraphConfig({}).SUBSCRIBER_BUFFER).toBe(512);
    expect(loadJobsSubgraphConfig({ SUBSCRIBER_BUFFER: '64' }).SUBSCRIBER_BUFFER).toBe(64);
  });

  it("reads the direct callers' subscription bounds with the gateway's names and defaults, refusing bad values", () => {
    expect(loadJobsSubgraphConfig({})).toMatchObject({
      MAX_SUBSCRIPTIONS_PER_CONNECTION: 100,
      MAX_SUBSCRIPTIONS_PER_KEY: 1000,
    });
    expect(loadJobsSubgraphConfig({ MAX_SUBSCRIPTIONS_PER_KEY: '5' }).MAX_SUBSCRIPTIONS_PER_KEY).toBe(5);
    for (const [name, bad] of [
      ['MAX_SUBSCRIPTIONS_PER_CONNECTION', '0'],
      ['MAX_SUBSCRIPTIONS_PER_KEY', 'lots'],
    ])
      expect(() => loadJobsSubgraphConfig({ [name]: bad })).toThrow(new RegExp(`${name}: expected`));
  });

  it('reads the lease settings, refusing a lease size outside 1..16 with the range', () => {
    expect(loadJobsSubgraphConfig({})).toMatchObject({ DISPATCH_LEASE_MAX: 8, DISPATCH_LEASE_TARGET_MS: 50 });
    expect(loadJobsSubgraphConfig({ DISPATCH_LEASE_MAX: '1' }).DISPATCH_LEASE_MAX).toBe(1);
    for (const bad of ['0', '17', 'many'])
      expect(() => loadJobsSubgraphConfig({ DISPATCH_LEASE_MAX: bad })).toThrow(
        /DISPATCH_LEASE_MAX: expected (1 \(no leases\) to 16|a number)/,
      );
  });

  it('reads the start-to-close backstop grace (default 60 s), refusing a non-positive one', () => {
    expect(loadJobsSubgraphConfig({}).ATTEMPT_CLOSE_GRACE_MS).toBe(60_000);
    expect(loadJobsSubgraphConfig({ ATTEMPT_CLOSE_GRACE_MS: '5000' }).ATTEMPT_CLOSE_GRACE_MS).toBe(5_000);
    for (const bad of ['0', '-1', 'later'])
      expect(() => loadJobsSubgraphConfig({ ATTEMPT_CLOSE_GRACE_MS: bad })).toThrow(/ATTEMPT_CLOSE_GRACE_MS/);
  });

  it('reads the replica liveness TTL, refusing one under 300 ms', () => {
    expect(loadJobsSubgraphConfig({}).SCHEDULER_REPLICA_TTL_MS).toBe(3_000);
    expect(loadJobsSubgraphConfig({ SCHEDULER_REPLICA_TTL_MS: '1500' }).SCHEDULER_REPLICA_TTL_MS).toBe(1_500);
    for (const bad of ['0', '299', 'soon'])
      expect(() => loadJobsSubgraphConfig({ SCHEDULER_REPLICA_TTL_MS: bad })).toThrow(
        /SCHEDULER_REPLICA_TTL_MS: expected (at least 300 \(ms\)|a number)/,
      );
  });
});
