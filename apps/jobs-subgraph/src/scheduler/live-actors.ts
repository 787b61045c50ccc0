import type { ResourceClass, WorkerManifest } from '#libs/contracts';

/** Actors of live workers that can take work (not quarantined or stopped), per resource class. */
export function liveActorsByClass(
  workers: readonly WorkerManifest[],
): Partial<Record<ResourceClass, number>> {
  const counts: Partial<Record<ResourceClass, number>> = {};
  for (const w of workers)
    for (const a of w.actors)
      if (a.state !== 'QUARANTINED' && a.state !== 'STOPPED')
        counts[a.resourceClass] = (counts[a.resourceClass] ?? 0) + 1;
  return counts;
}
