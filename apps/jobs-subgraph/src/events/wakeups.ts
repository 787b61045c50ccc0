import type { Redis } from 'ioredis';

export type WakeListener = () => void;

/**
 * Fans one pub/sub connection out to in-process listeners by channel. Messages carry nothing a listener relies
 * on: they only say "read the stream again", so a message lost while disconnected costs nothing once every
 * listener re-reads on reconnect.
 */
export class Wakeups {
  private readonly listeners = new Map<string, Set<WakeListener>>();

  /** `subscriber` is a dedicated connection (in subscriber mode it can do nothing else). */
  constructor(private readonly subscriber: Redis) {
    subscriber.on('message', (channel: string) => {
      for (const l of this.listeners.get(channel) ?? []) l();
    });
    // ioredis resubscribes after a reconnect; whatever was published meanwhile is read from the streams
    subscriber.on('ready', () => {
      for (const set of this.listeners.values()) for (const l of set) l();
    });
  }

  /** Resolves once Redis has confirmed the subscription, so nothing published after that is missed. */
  async listen(channel: string, listener: WakeListener): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    await this.subscriber.subscribe(channel);
    return async () => {
      const current = this.listeners.get(channel);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) {
        this.listeners.delete(channel);
        await this.subscriber.unsubscribe(channel).catch(() => undefined);
      }
    };
  }

  get channelCount(): number {
    return this.listeners.size;
  }
}
