import type { Redis } from 'ioredis';
import { describe } from './errors.js';
import type { StorageLogger } from './logger.js';
import { STORAGE_KEYS } from './storage-keys.js';

/**
 * Keeps a staged output's remove-after entry out of the sweep's reach while its put runs: every `everyMs` the
 * entry's due time moves to now + `graceMs`. Puts fail when no byte moves for S3_REQUEST_TIMEOUT_MS, so a put
 * still running is one still moving bytes, however long it takes; the grace then only covers a stager that died.
 * A timer, not a per-chunk hook: a put that ends within the first interval costs no extra command.
 * XX: an entry the sweep already claimed is never put back (the stage then removes the object itself);
 * GT: the due time never moves earlier. Returns the stop function.
 */
export function keepStageEntry(
  redis: Redis,
  key: string,
  options: { graceMs: number; everyMs: number; now: () => Date; logger: StorageLogger },
): () => void {
  const timer = setInterval(() => {
    redis
      .zadd(STORAGE_KEYS.removeAfter, 'XX', 'GT', options.now().getTime() + options.graceMs, key)
      .catch((e: unknown) =>
        // the next tick tries again; if none succeeds before the entry is due, the record step refuses (retryable)
        options.logger.warn(
          { key, err: describe(e) },
          "could not push back a running put's remove-after entry",
        ),
      );
  }, options.everyMs);
  timer.unref(); // a put in flight keeps the process alive, not this
  return () => clearInterval(timer);
}
