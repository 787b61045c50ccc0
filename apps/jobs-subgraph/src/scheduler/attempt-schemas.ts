/** What a completion needs to know of its node before the step: which output schema its outputs must match. */
export interface AttemptSchema {
  outputSchemaRef: string;
  task: string;
  taskVersion: string;
}

/**
 * The output schema of attempts this replica enqueued, by attempt id, so that applying their completion need
 * not read the node hash first (the completion step itself checks the attempt is current). Bounded: the
 * oldest entries go first; a miss (another replica enqueued it, or it was evicted) just reads the node.
 */
export class AttemptSchemas {
  private readonly byAttempt = new Map<string, AttemptSchema>();

  constructor(private readonly max = 20_000) {}

  remember(attemptId: string, schema: AttemptSchema): void {
    this.byAttempt.delete(attemptId);
    this.byAttempt.set(attemptId, schema);
    if (this.byAttempt.size > this.max) {
      const oldest = this.byAttempt.keys().next().value;
      if (oldest !== undefined) this.byAttempt.delete(oldest);
    }
  }

  /** The attempt's schema, forgotten as it is read (an attempt completes once). */
  take(attemptId: string): AttemptSchema | undefined {
    const found = this.byAttempt.get(attemptId);
    if (found) this.byAttempt.delete(attemptId);
    return found;
  }

  forget(attemptId: string): void {
    this.byAttempt.delete(attemptId);
  }
}
