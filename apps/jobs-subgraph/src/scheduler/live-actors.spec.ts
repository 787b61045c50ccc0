import type { ActorInfo, ActorState, ResourceClass } from '#libs/contracts';
import { workerManifest } from '../registry/test/manifests.js';
import { liveActorsByClass } from './live-actors.js';

const actors = (id: string, rc: ResourceClass, ...states: ActorState[]): ActorInfo[] =>
  states.map((state, i) => ({
    id: `${id}/${rc}${i}`,
    device: `${rc} ${i}`,
    resourceClass: rc,
    state,
    restarts: 0,
  }));

describe('liveActorsByClass', () => {
  it('counts the actors of accepting workers that can take work, a quarantined one beside them left out', () => {
    expect(
      liveActorsByClass([
        // not ready for its quarantined GPU (DESIGN), but accepting: its other actors lease
        workerManifest('host8', [], {
          ready: false,
          actors: [
            ...actors('host8', 'gpu', 'BUSY', 'IDLE', 'QUARANTINED', 'RESTARTING'),
            ...actors('host8', 'cpu', 'IDLE', 'STOPPED'),
          ],
        }),
        // draining: its actors show what they do until they stop, but lease nothing more
        workerManifest('draining', [], {
          ready: false,
          accepting: false,
          actors: actors('draining', 'gpu', 'BUSY', 'IDLE'),
        }),
        // an older worker publishes no `accepting`: its `ready` decides
        {
          ...workerManifest('older', [], { ready: false, actors: actors('older', 'cpu', 'IDLE') }),
          accepting: undefined,
        },
      ]),
    ).toEqual({ gpu: 3, cpu: 1 });
  });
});
