import { actorTakesWork, workerTakesWork, type ResourceClass, type WorkerManifest } from '#libs/contracts';

/**
 * Actors that can take work (`actorTakesWork`) on workers that take work (`workerTakesWork`), per resource
 * class: what the dispatch window is raised to. A draining worker's actors still show IDLE or BUSY until they
 * stop, but lease nothing more; a worker not ready for a quarantined actor still leases on its others.
 */
export function liveActorsByClass(
  workers: readonly WorkerManifest[],
): Partial<Record<ResourceClass, number>> {
  const counts: Partial<Record<ResourceClass, number>> = {};
  for (const w of workers) {
    if (!workerTakesWork(w)) continue;
    for (const a of w.actors)
      if (actorTakesWork(a.state)) counts[a.resourceClass] = (counts[a.resourceClass] ?? 0) + 1;
  }
  return counts;
}
