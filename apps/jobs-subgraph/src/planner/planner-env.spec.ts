import { ConfigError, loadConfig } from '#libs/config';
import { plannerEnv, plannerLimitsFrom } from './planner-env.js';

describe('plannerEnv', () => {
  it('defaults to 200 nodes, 2000 edges, 256 KiB', () => {
    expect(plannerLimitsFrom(loadConfig(plannerEnv, {}))).toEqual({
      maxNodes: 200,
      maxEdges: 2000,
      maxInputBytes: 262144,
    });
  });
  it('reads overrides and refuses nonsense, naming the variable', () => {
    const config = loadConfig(plannerEnv, { PLANNER_MAX_NODES: '50', TEMPLATES_DIR: '/srv/templates' });
    expect(plannerLimitsFrom(config).maxNodes).toBe(50);
    expect(config.TEMPLATES_DIR).toBe('/srv/templates');
    expect(() => loadConfig(plannerEnv, { PLANNER_MAX_EDGES: '-3' })).toThrow(ConfigError);
    expect(() => loadConfig(plannerEnv, { PLANNER_MAX_EDGES: '-3' })).toThrow(/PLANNER_MAX_EDGES/);
  });
  it("refuses more nodes than Job.nodes's @listSize counts (cost limits would count fewer than a job answers)", () => {
    expect(plannerLimitsFrom(loadConfig(plannerEnv, { PLANNER_MAX_NODES: '200' })).maxNodes).toBe(200);
    expect(() => loadConfig(plannerEnv, { PLANNER_MAX_NODES: '201' })).toThrow(
      /PLANNER_MAX_NODES.*at most 200/s,
    );
  });
});
