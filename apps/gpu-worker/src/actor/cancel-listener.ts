import type { Redis } from 'ioredis';
import { CancelNotice, parseContract, REDIS_KEYS } from '#libs/contracts';
import { resubscribeOnReady } from '#libs/redis';

export interface CancelListenerLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Subscribes to REDIS_KEYS.cancelChannel and hands every valid CancelNotice to `onNotice`. After a reconnect it
 * subscribes again and calls `onResubscribed`: a notice published while the connection was down is lost, so
 * the actors read the cancelled markers of what they hold (a queued attempt reads its marker before it starts).
 * A failed SUBSCRIBE is logged and tried again after `retryMs`.
 */
export class CancelListener {
  private subscribed = false;

  constructor(
    private readonly subscriber: Redis,
    private readonly onNotice: (notice: CancelNotice) => void,
    private readonly logger: CancelListenerLogger,
    private readonly onResubscribed: () => void = () => undefined,
    private readonly retryMs = 1_000,
  ) {}

  async start(): Promise<void> {
    // confirmed before the markers are read, so a notice is either received or its marker seen
    resubscribeOnReady(this.subscriber, {
      channels: () => (this.subscribed ? [REDIS_KEYS.cancelChannel] : []), // before: start() subscribes
      confirmed: () => {
        this.logger.warn(
          {},
          'cancel channel subscribed again: reading the cancelled markers of held attempts',
        );
        this.onResubscribed();
      },
      failed: (e, attempt) =>
        this.logger.error(
          { err: e instanceof Error ? e.message : String(e), attempt, retryMs: this.retryMs },
          'cancel channel: subscribing again failed (retrying)',
        ),
      retryMs: this.retryMs,
    });
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== REDIS_KEYS.cancelChannel) return;
      try {
        this.onNotice(parseContract(CancelNotice, 'CancelNotice', JSON.parse(message)));
      } catch (e) {
        this.logger.error({ err: (e as Error).message }, 'ignored a malformed cancel notice');
      }
    });
    await this.subscriber.subscribe(REDIS_KEYS.cancelChannel);
    this.subscribed = true;
  }
}
