import { z } from 'zod';
import { positiveInt } from '#libs/config';
import { DEFAULT_PLANNER_LIMITS, JOB_NODES_LIST_SIZE, type PlannerLimits } from './planner.js';

/** Env fields of the planner, for the app's one `loadConfig` call (spread into its shape). */
export const plannerEnv = {
  /** At most what the schema tells routers to count for a job's nodes (Job.nodes @listSize assumedSize). */
  PLANNER_MAX_NODES: positiveInt(DEFAULT_PLANNER_LIMITS.maxNodes).pipe(
    z
      .number()
      .max(
        JOB_NODES_LIST_SIZE,
        `expected at most ${JOB_NODES_LIST_SIZE} (the schema's @listSize of Job.nodes, which cost limits count)`,
      ),
  ),
  PLANNER_MAX_EDGES: positiveInt(DEFAULT_PLANNER_LIMITS.maxEdges),
  PLANNER_MAX_INPUT_BYTES: positiveInt(DEFAULT_PLANNER_LIMITS.maxInputBytes),
  /** Where pipeline templates live; default `<repo>/templates` (DEFAULT_TEMPLATES_DIR). */
  TEMPLATES_DIR: z.string().min(1).optional(),
};

export const plannerLimitsFrom = (config: {
  PLANNER_MAX_NODES: number;
  PLANNER_MAX_EDGES: number;
  PLANNER_MAX_INPUT_BYTES: number;
}): PlannerLimits => ({
  maxNodes: config.PLANNER_MAX_NODES,
  maxEdges: config.PLANNER_MAX_EDGES,
  maxInputBytes: config.PLANNER_MAX_INPUT_BYTES,
});
