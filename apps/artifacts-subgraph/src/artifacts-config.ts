import { subgraphAuthEnv, subgraphAuthSettings, type SubgraphAuthSettings } from '#libs/auth';
import { isProduction, loadConfig, port, redisEnv, runtimeEnv, type ConfigOf } from '#libs/config';
import { artifactPolicyEnv, storageEnv } from '#libs/storage';

/** Everything the artifacts subgraph reads from its environment, parsed once at boot. */
export const artifactsSubgraphEnv = {
  ...runtimeEnv,
  ...redisEnv,
  ...storageEnv,
  ...artifactPolicyEnv,
  ARTIFACTS_SUBGRAPH_PORT: port(4002),
  ...subgraphAuthEnv,
};

/** The environment, parsed; `auth` is who may call (SUBGRAPH_ACCEPT and its settings, checked together). */
export type ArtifactsSubgraphConfig = ConfigOf<typeof artifactsSubgraphEnv> & { auth: SubgraphAuthSettings };

export function loadArtifactsSubgraphConfig(env: NodeJS.ProcessEnv = process.env): ArtifactsSubgraphConfig {
  const c = loadConfig(artifactsSubgraphEnv, env);
  return { ...c, auth: subgraphAuthSettings(c, isProduction(c)) };
}
