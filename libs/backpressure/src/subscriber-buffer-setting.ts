import { z } from 'zod';

function optionalPositiveInt() {
  return z.coerce
    .number({ message: 'expected a number' })
    .int('expected an integer')
    .positive('expected a positive integer')
    .optional();
}

/** Events one subscriber may have queued (after coalescing), in the jobs subgraph and in the gateway. */
export const SUBSCRIBER_BUFFER_DEFAULT = 512;

/**
 * The one setting of the subscriber buffer. `SUBSCRIPTION_BUFFER` was the gateway's name for it: still read
 * (deprecated) when `SUBSCRIBER_BUFFER` is not set; see subscriberBufferFrom.
 */
export const subscriberBufferEnv = {
  SUBSCRIBER_BUFFER: optionalPositiveInt(),
  /** Deprecated: the gateway's old name of SUBSCRIBER_BUFFER. */
  SUBSCRIPTION_BUFFER: optionalPositiveInt(),
};

export interface SubscriberBufferSetting {
  capacity: number;
  /** Set when a deprecated name was used: the app logs it as a warning once its logger exists. */
  deprecation?: string;
}

/** The capacity from the parsed settings: SUBSCRIBER_BUFFER, else the deprecated SUBSCRIPTION_BUFFER, else 512. */
export function subscriberBufferFrom(c: {
  SUBSCRIBER_BUFFER?: number;
  SUBSCRIPTION_BUFFER?: number;
}): SubscriberBufferSetting {
  if (c.SUBSCRIPTION_BUFFER === undefined)
    return { capacity: c.SUBSCRIBER_BUFFER ?? SUBSCRIBER_BUFFER_DEFAULT };
  const deprecation =
    c.SUBSCRIBER_BUFFER === undefined
      ? 'SUBSCRIPTION_BUFFER is deprecated: set SUBSCRIBER_BUFFER instead'
      : 'SUBSCRIPTION_BUFFER is deprecated and ignored: SUBSCRIBER_BUFFER is set';
  return { capacity: c.SUBSCRIBER_BUFFER ?? c.SUBSCRIPTION_BUFFER, deprecation };
}
