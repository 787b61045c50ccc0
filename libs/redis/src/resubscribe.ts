import type { Redis } from 'ioredis';

export interface ResubscribeOptions {
  /** The channels to subscribe again on a new connection (read at each try); none: nothing to do. */
  channels: () => string[];
  /** Every channel is subscribed on the new connection: what was published from now on is received. */
  confirmed: () => void;
  /** A SUBSCRIBE failed; it is tried again after `retryMs` while the connection stays up (a new one starts over). */
  failed: (err: unknown, attempt: number) => void;
  /** Default 1 s. */
  retryMs?: number;
}

/**
 * Calls `confirmed` after each (re)connect of a subscriber connection once Redis has confirmed a SUBSCRIBE of
 * every channel on it: the moment to re-read what messages may have been lost. ioredis re-sends the SUBSCRIBEs
 * by itself but emits `ready` before Redis has seen them, so a read started on `ready` can run before the
 * subscription is back and miss a message published in between. Our own SUBSCRIBE's reply follows ioredis's on
 * the same connection, so once it is in, the channels are subscribed. Returns a function that stops following.
 */
export function resubscribeOnReady(subscriber: Redis, opts: ResubscribeOptions): () => void {
  const retryMs = opts.retryMs ?? 1_000;
  /** Bumped by every `ready` and by stop: a try of an older connection does nothing more. */
  let round = 0;
  let timer: NodeJS.Timeout | undefined;
  const current = (r: number) => r === round && subscriber.status === 'ready';
  const attempt = (r: number, n: number) => {
    const channels = opts.channels();
    if (channels.length === 0) return;
    subscriber.subscribe(...channels).then(
      () => {
        if (current(r)) opts.confirmed();
      },
      (err: unknown) => {
        if (r !== round) return;
        opts.failed(err, n);
        timer = setTimeout(() => {
          timer = undefined;
          if (current(r)) attempt(r, n + 1);
        }, retryMs);
        // a retry pending must not hold a shutting-down process (its connection is being quit anyway)
        timer.unref();
      },
    );
  };
  const onReady = () => {
    clearTimeout(timer);
    attempt(++round, 1);
  };
  subscriber.on('ready', onReady);
  return () => {
    round++;
    clearTimeout(timer);
    subscriber.off('ready', onReady);
  };
}
