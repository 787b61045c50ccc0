import type { NodeAttemptPayload, ResourceClass } from '#libs/contracts';
import type { AttemptQueueState } from './enqueuer.js';

/**
 * The queue workers lease attempts from (one per resource class), behind the fair-share stage. Adding an
 * attempt that is already there is a no-op (its id is the attempt id), so every add is safe to repeat.
 */
export interface NodeQueue {
  /** Adds the attempts in this order (the order the fair stage chose). */
  add(resourceClass: ResourceClass, attempts: readonly NodeAttemptPayload[]): Promise<void>;
  /** Removes a waiting attempt; one a worker holds stays. */
  remove(resourceClass: ResourceClass, attemptId: string): Promise<void>;
  state(resourceClass: ResourceClass, attemptId: string): Promise<AttemptQueueState>;
  close(): Promise<void>;
}
