import type { Identity } from '#libs/contracts';

/** Per-request context: the identity the gateway signed (verified before any resolver runs). */
export interface ArtifactsContext {
  identity: Identity;
}
