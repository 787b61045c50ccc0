import type { Redis } from 'ioredis';
import { resubscribeOnReady } from '#libs/redis';

export type WakeListener = () => void;

export interface WakeupsLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Fans one pub/sub connection out to in-process listeners by channel and topic. The scheduler publishes one
 * message per transition on the tenant's channel; the message is the space-separated topics it concerns (the
 * job id, and "feed" when the tenant feed got an entry), so a `jobEvents` reader listens to its job's topic and
 * a `jobFeed` reader to "feed" on the same channel. Messages carry nothing else a listener relies on: they only
 * say "read again", so a message lost while disconnected costs nothing once every listener re-reads on reconnect,
 * after its channel is subscribed again.
 */
export class Wakeups {
  /** channel -> topic ('' = every message) -> listeners */
  private readonly listeners = new Map<string, Map<string, Set<WakeListener>>>();
  /** One SUBSCRIBE per channel, shared by every listener that waits for it. */
  private readonly subscribed = new Map<string, Promise<unknown>>();

  /** `subscriber` is a dedicated connection (in subscriber mode it can do nothing else). */
  constructor(
    private readonly subscriber: Redis,
    logger: WakeupsLogger,
    /** How soon a failed SUBSCRIBE after a reconnect is tried again. */
    retryMs = 1_000,
  ) {
    subscriber.on('message', (channel: string, message: string) => {
      const topics = this.listeners.get(channel);
      if (!topics) return;
      for (const l of topics.get('') ?? []) l();
      for (const topic of message.split(' ')) if (topic !== '') for (const l of topics.get(topic) ?? []) l();
    });
    // Whatever was published while disconnected is read from the logs, once the channels are subscribed again:
    // a read before that could miss what is published in between.
    resubscribeOnReady(subscriber, {
      channels: () => [...this.listeners.keys()],
      confirmed: () => {
        logger.info(
          { channels: this.listeners.size },
          'event channels subscribed again: subscribers read again',
        );
        for (const topics of this.listeners.values())
          for (const set of topics.values()) for (const l of set) l();
      },
      failed: (err, attempt) =>
        logger.error(
          { err: err instanceof Error ? err.message : String(err), attempt, retryMs },
          'event channels: subscribing again failed; subscribers wait for it (retrying)',
        ),
      retryMs,
    });
  }

  /**
   * Calls `listener` on every message of `channel` that names `topic` (every message when no topic is given).
   * Resolves once Redis has confirmed the subscription, so nothing published after that is missed.
   */
  async listen(channel: string, listener: WakeListener, topic = ''): Promise<() => Promise<void>> {
    let topics = this.listeners.get(channel);
    if (!topics) this.listeners.set(channel, (topics = new Map()));
    let set = topics.get(topic);
    if (!set) topics.set(topic, (set = new Set()));
    set.add(listener);
    let subscribing = this.subscribed.get(channel);
    if (!subscribing) {
      subscribing = this.subscriber.subscribe(channel);
      this.subscribed.set(channel, subscribing);
      // a failed SUBSCRIBE is not cached: the next listener tries again
      subscribing.catch(() => {
        if (this.subscribed.get(channel) === subscribing) this.subscribed.delete(channel);
      });
    }
    try {
      await subscribing;
    } catch (e) {
      this.remove(channel, topic, listener);
      throw e;
    }
    return async () => {
      if (this.remove(channel, topic, listener)) {
        this.subscribed.delete(channel);
        const unsubscribing = this.subscriber.unsubscribe(channel).catch(() => undefined);
        // while disconnected it waits in the offline queue, sent after the reconnect's re-SUBSCRIBE: a follower
        // ending in an outage (UNAVAILABLE) must not wait for Redis to come back
        if (this.subscriber.status === 'ready') await unsubscribing;
      }
    };
  }

  /** Channels with at least one listener. */
  get channelCount(): number {
    return this.listeners.size;
  }

  /** Drops a listener; true when its channel has none left. */
  private remove(channel: string, topic: string, listener: WakeListener): boolean {
    const topics = this.listeners.get(channel);
    const set = topics?.get(topic);
    if (!topics || !set || !set.delete(listener)) return false;
    if (set.size === 0) topics.delete(topic);
    if (topics.size > 0) return false;
    this.listeners.delete(channel);
    return true;
  }
}
