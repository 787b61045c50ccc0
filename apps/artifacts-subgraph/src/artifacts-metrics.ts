import { metrics } from '#libs/observability';
import type { ArtifactsMetrics } from './artifacts-runtime.js';

/** The subgraph's counters, bound to the process registry (GET /metrics). */
export function createArtifactsMetrics(): ArtifactsMetrics {
  const completed = metrics.counter({
    name: 'switchyard_artifact_uploads_completed_total',
    help: 'Uploads verified and committed',
  });
  const rejected = metrics.counter({
    name: 'switchyard_artifact_uploads_rejected_total',
    help: 'Uploads refused at createUpload or completeUpload, by reason',
    labelNames: ['reason'] as const,
  });
  const quotaRefusals = metrics.counter({
    name: 'switchyard_artifact_quota_refusals_total',
    help: 'Uploads refused at createUpload by a per-tenant quota, by quota',
    labelNames: ['quota'] as const,
  });
  const storageErrors = metrics.counter({
    name: 'switchyard_artifact_storage_errors_total',
    help: 'Object storage calls that failed after retries, by operation and error code',
    labelNames: ['op', 'code'] as const,
  });
  const sweeps = metrics.counter({
    name: 'switchyard_artifact_sweeps_total',
    help: 'Artifact sweeps run, by outcome',
    labelNames: ['outcome'] as const,
  });
  const swept = metrics.counter({
    name: 'switchyard_artifact_swept_total',
    help: 'Artifacts and objects removed by sweeps, by kind',
    labelNames: ['kind'] as const,
  });
  const capped = metrics.counter({
    name: 'switchyard_artifact_job_lists_capped_total',
    help: 'Job.artifacts answers cut at JOB_ARTIFACTS_LIST_MAX (the job has more; artifactsPage reads them all)',
  });
  return {
    jobArtifactsCapped: () => capped.inc(),
    uploadCompleted: () => completed.inc(),
    uploadRejected: (reason) => rejected.inc({ reason }),
    quotaRefused: (quota) => {
      quotaRefusals.inc({ quota });
      rejected.inc({ reason: 'QUOTA_EXCEEDED' });
    },
    storageError: (op, code) => storageErrors.inc({ op, code }),
    sweepRan: (outcome, result) => {
      sweeps.inc({ outcome });
      if (!result) return;
      swept.inc({ kind: 'orphan' }, result.orphans);
      swept.inc({ kind: 'expired' }, result.expired);
      swept.inc({ kind: 'object' }, result.objectsRemoved);
    },
  };
}
