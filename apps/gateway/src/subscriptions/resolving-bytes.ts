import type { BufferBudget, BufferBudgetExceeded } from './buffered-bytes.js';

/**
 * What a stream's events are taken to hold on arrival until one has been resolved. Small on purpose: what an event
 * holds once resolved (where the bytes are: its entity fetches' results) is held at once, in full, when it resolves.
 */
export const FIRST_EVENT_ESTIMATE_BYTES = 4 * 1024;

/** Bytes held for one event from its arrival until its hand-off. */
export interface ResolvingHold {
  /** The resolved event holds `bytes`: the hold becomes that (a larger one may be refused). */
  resolved(bytes: number): BufferBudgetExceeded | null;
  /** Handed to the members (who count it themselves), or dropped: the hold is given back. */
  release(): void;
}

/**
 * The bytes of one upstream stream's events between their arrival and their hand-off to the members: their
 * entity fetches in flight, or resolved and waiting behind earlier events. The subgraph sends a replay's events
 * as fast as it reads them (hundreds at once) and each starts its fetch on arrival, so without this the results
 * of a replay's fetches were held uncounted until the events before them were handed over, however many arrived,
 * while the buffers behind them, which count what is queued, stayed under their bounds. Held
 * against the key's budget at the stream's mean resolved size (FIRST_EVENT_ESTIMATE_BYTES before the first),
 * trued up once resolved.
 */
export class ResolvingBytes {
  private resolvedEvents = 0;
  private resolvedBytes = 0;

  private get estimate(): number {
    return this.resolvedEvents === 0
      ? FIRST_EVENT_ESTIMATE_BYTES
      : Math.ceil(this.resolvedBytes / this.resolvedEvents);
  }

  /**
   * Holds an arriving event's estimated bytes in `budget`, or says which bound refused. `essential` (a terminal
   * event) is held whatever the bounds: it ends the stream anyway.
   */
  hold(budget: BufferBudget, essential: boolean): ResolvingHold | BufferBudgetExceeded {
    const take = (bytes: number): BufferBudgetExceeded | null => {
      if (!essential) return budget.tryTake(bytes);
      budget.take(bytes);
      return null;
    };
    let held = this.estimate;
    const refused = take(held);
    if (refused) return refused;
    let released = false;
    return {
      resolved: (bytes) => {
        this.resolvedEvents++;
        this.resolvedBytes += bytes;
        if (bytes <= held) budget.give(held - bytes);
        else {
          const refused = take(bytes - held);
          if (refused) return refused;
        }
        held = bytes;
        return null;
      },
      release: () => {
        if (released) return;
        released = true;
        budget.give(held);
      },
    };
  }
}
