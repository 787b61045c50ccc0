import type { Redis } from 'ioredis';
import { CancelNotice, parseContract, REDIS_KEYS } from '#libs/contracts';

export interface CancelListenerLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Subscribes to REDIS_KEYS.cancelChannel and hands every valid CancelNotice to `onNotice`. The
 * subscriber connection resubscribes by itself after a reconnect (ioredis autoResubscribe); a notice
 * published during an outage is covered by the cancelled-job key checked before each attempt.
 */
export class CancelListener {
  constructor(
    private readonly subscriber: Redis,
    private readonly onNotice: (notice: CancelNotice) => void,
    private readonly logger: CancelListenerLogger,
  ) {}

  async start(): Promise<void> {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== REDIS_KEYS.cancelChannel) return;
      try {
        this.onNotice(parseContract(CancelNotice, 'CancelNotice', JSON.parse(message)));
      } catch (e) {
        this.logger.error({ err: (e as Error).message }, 'ignored a malformed cancel notice');
      }
    });
    await this.subscriber.subscribe(REDIS_KEYS.cancelChannel);
  }
}
