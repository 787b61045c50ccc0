import { subgraphAuthEnv, subgraphAuthSettings, type SubgraphAuthSettings } from '#libs/auth';
import { z } from 'zod';
import {
  isProduction,
  loadConfig,
  port,
  positiveInt,
  redisEnv,
  runtimeEnv,
  type ConfigOf,
} from '#libs/config';
import { artifactPolicyEnv, storageEnv } from '#libs/storage';
import { JOB_ARTIFACTS_LIST_SIZE } from './reads/job-artifacts-bounds.js';

/** Everything the artifacts subgraph reads from its environment, parsed once at boot. */
export const artifactsSubgraphEnv = {
  ...runtimeEnv,
  ...redisEnv,
  ...storageEnv,
  ...artifactPolicyEnv,
  ARTIFACTS_SUBGRAPH_PORT: port(4002),
  /** Largest `first` of `Job.artifactsPage`. */
  JOB_ARTIFACTS_PAGE_MAX: positiveInt(100).pipe(z.number().max(1000, 'expected at most 1000')),
  /**
   * Most artifacts `Job.artifacts` answers per job (the first committed). At most what the schema tells routers to count
   * for it (@listSize assumedSize), so that cost analysis never counts less than it can return.
   */
  JOB_ARTIFACTS_LIST_MAX: positiveInt(JOB_ARTIFACTS_LIST_SIZE).pipe(
    z
      .number()
      .max(
        JOB_ARTIFACTS_LIST_SIZE,
        `expected at most ${JOB_ARTIFACTS_LIST_SIZE} (the schema's @listSize of Job.artifacts)`,
      ),
  ),
  ...subgraphAuthEnv,
};

/** The environment, parsed; `auth` is who may call (SUBGRAPH_ACCEPT and its settings, checked together). */
export type ArtifactsSubgraphConfig = ConfigOf<typeof artifactsSubgraphEnv> & { auth: SubgraphAuthSettings };

export function loadArtifactsSubgraphConfig(env: NodeJS.ProcessEnv = process.env): ArtifactsSubgraphConfig {
  const c = loadConfig(artifactsSubgraphEnv, env);
  return { ...c, auth: subgraphAuthSettings(c, isProduction(c)) };
}
