import { loadConfig, port, redisEnv, runtimeEnv, type ConfigOf } from '#libs/config';
import { artifactPolicyEnv, storageEnv } from '#libs/storage';

/** Everything the artifacts subgraph reads from its environment, parsed once at boot. */
export const artifactsSubgraphEnv = {
  ...runtimeEnv,
  ...redisEnv,
  ...storageEnv,
  ...artifactPolicyEnv,
  ARTIFACTS_SUBGRAPH_PORT: port(4002),
};

export type ArtifactsSubgraphConfig = ConfigOf<typeof artifactsSubgraphEnv>;

export const loadArtifactsSubgraphConfig = (env: NodeJS.ProcessEnv = process.env): ArtifactsSubgraphConfig =>
  loadConfig(artifactsSubgraphEnv, env);
