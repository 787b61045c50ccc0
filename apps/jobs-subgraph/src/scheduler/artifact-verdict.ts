import type { JobError } from '#libs/contracts';

/** Why completeAttempt could not commit an artifact a `succeeded` report lists. */
export type ArtifactVerdict = 'bad_artifact' | 'expired_artifact';

/**
 * The attempt's error for an artifact it cannot commit. `expired_artifact`: the attempt did stage it, but its
 * staged output was deleted before the completion (the orphan sweep's grace ran out): the platform lost it, so
 * the node is retried. `bad_artifact`: the attempt never staged it (another attempt's, or made up): the task's
 * fault, not retried. (STORAGE_UNAVAILABLE: a new JobError code would be refused by replicas not yet upgraded.)
 */
export function artifactVerdictError(
  verdict: ArtifactVerdict,
  artifactId: string,
  nodeId: string,
  attempt: number,
): JobError {
  return verdict === 'expired_artifact'
    ? {
        code: 'STORAGE_UNAVAILABLE',
        message:
          `staged output ${artifactId} of attempt ${attempt} of node ${nodeId} expired before the attempt ` +
          'completed (the orphan sweep removed it after ARTIFACT_ORPHAN_GRACE_SECONDS); the node is run again',
        retryable: true,
      }
    : {
        code: 'INVALID_OUTPUT',
        message: `artifact ${artifactId} was not staged by attempt ${attempt} of node ${nodeId}`,
        retryable: false,
      };
}
