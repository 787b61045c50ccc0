import type { ChildEnvelope, ChildMessage } from './ipc-protocol.js';

/**
 * The runner's side of the channel: what one turn of its event loop sends (the results of a lease's short
 * attempts, a result and the next run's first progress) goes in one write, at the end of the turn. Each write
 * wakes the actor; for attempts of a few microseconds that wake-up was most of their cost.
 */
export class TurnBatchedSender {
  private held: ChildMessage[] = [];
  private scheduled = false;

  constructor(private readonly write: (envelope: ChildEnvelope) => void) {}

  send(msg: ChildMessage): void {
    this.held.push(msg);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes what is held now (also before the process exits). */
  flush(): void {
    this.scheduled = false;
    const messages = this.held;
    if (messages.length === 0) return;
    this.held = [];
    this.write(messages.length === 1 ? messages[0]! : { type: 'batch', messages });
  }
}
