import { loadArtifactsSubgraphConfig } from './artifacts-config.js';

describe('artifacts subgraph configuration: bounds of Job.artifacts and Job.artifactsPage', () => {
  it('defaults JOB_ARTIFACTS_LIST_MAX to the @listSize of the schema (50) and JOB_ARTIFACTS_PAGE_MAX to 100', () => {
    expect(loadArtifactsSubgraphConfig({})).toMatchObject({
      JOB_ARTIFACTS_LIST_MAX: 50,
      JOB_ARTIFACTS_PAGE_MAX: 100,
    });
    expect(
      loadArtifactsSubgraphConfig({ JOB_ARTIFACTS_LIST_MAX: '10', JOB_ARTIFACTS_PAGE_MAX: '500' }),
    ).toMatchObject({ JOB_ARTIFACTS_LIST_MAX: 10, JOB_ARTIFACTS_PAGE_MAX: 500 });
  });

  it('refuses to start with a Job.artifacts bound above what routers count for it, or a page cap out of range', () => {
    expect(() => loadArtifactsSubgraphConfig({ JOB_ARTIFACTS_LIST_MAX: '51' })).toThrow(
      /JOB_ARTIFACTS_LIST_MAX.*at most 50/s,
    );
    for (const bad of ['0', '-1', 'ten', '1001'])
      expect(() => loadArtifactsSubgraphConfig({ JOB_ARTIFACTS_PAGE_MAX: bad })).toThrow(
        /JOB_ARTIFACTS_PAGE_MAX/,
      );
  });
});
