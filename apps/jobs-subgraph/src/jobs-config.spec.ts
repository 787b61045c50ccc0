import { ConfigError } from '#libs/config';
import { loadJobsSubgraphConfig } from './jobs-config.js';

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

  it('reads the shared subscriber buffer setting', () => {
    expect(loadJobsSubgraphConfig({}).SUBSCRIBER_BUFFER).toBe(512);
    expect(loadJobsSubgraphConfig({ SUBSCRIBER_BUFFER: '64' }).SUBSCRIBER_BUFFER).toBe(64);
  });
});
