import { z } from 'zod';

/** A W3C Trace Context `traceparent` value (version 00): carries a trace across the queue and the streams. */
export const Traceparent = z
  .string()
  .regex(
    /^00-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/,
    'expected a W3C traceparent (00-<trace id>-<span id>-<flags>)',
  );
export type Traceparent = z.infer<typeof Traceparent>;
