import type { JobsService } from '../service/jobs-service.js';
import { requireScope, type JobsContext } from './context.js';
import { JobType } from './types.js';

/**
 * The caller's jobs by id as the API shows them (null where missing or another tenant's), in one round trip;
 * FORBIDDEN without `jobs:read`, before anything is read. Query.job, the Job entity (`_entities`, from a router,
 * the artifacts subgraph or a direct caller) and JobEvent.job all read through here, so no way in skips the scope.
 */
export async function jobsForCaller(
  service: JobsService,
  ctx: JobsContext,
  ids: readonly string[],
): Promise<Array<JobType | null>> {
  const tenant = requireScope(ctx, 'jobs:read');
  return (await service.jobsByIds(tenant, ids)).map((v) => (v ? JobType.from(v) : null));
}
