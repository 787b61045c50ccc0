import { nestsDeeperThan } from '#libs/contracts';
import { badInput } from '#libs/errors';
import { QuotaExceededError } from '../scheduler/tenant-quotas.js';

/** Bounds on a submission's `labels` (they are stored with the job for as long as it is kept). */
export interface LabelLimits {
  /** Bytes of the labels serialized as JSON (UTF-8). */
  maxBytes: number;
  /** Top-level keys. */
  maxKeys: number;
}

export const DEFAULT_LABEL_LIMITS: LabelLimits = { maxBytes: 16 * 1024, maxKeys: 64 };

/** A label key: non-empty, at most this many characters (values are bounded by maxBytes). */
export const MAX_LABEL_KEY_LENGTH = 128;

/**
 * Deepest nesting of arrays/objects accepted anywhere in a submission. Checked iteratively before the input
 * is parsed, so a hostile document cannot exhaust the stack of the recursive parsers after it.
 */
export const MAX_JSON_DEPTH = 64;

/** BAD_USER_INPUT when `value` nests deeper than `maxDepth` (walked with an explicit stack). */
export function assertJsonDepth(value: unknown, what: string, maxDepth = MAX_JSON_DEPTH): void {
  if (nestsDeeperThan(value, maxDepth))
    throw badInput(`${what} nests deeper than ${maxDepth} levels`, { maxDepth });
}

/**
 * The labels of a submission against the label quotas: QuotaExceededError (labelKeys, labelBytes) when over
 * them, BAD_USER_INPUT for a malformed key. Anything else malformed is left to the SubmitJobInput schema.
 */
export function checkLabels(labels: unknown, limits: LabelLimits): void {
  if (labels === null || labels === undefined || typeof labels !== 'object' || Array.isArray(labels)) return;
  const keys = Object.keys(labels);
  if (keys.length > limits.maxKeys) throw new QuotaExceededError('labelKeys', limits.maxKeys, 0, keys.length);
  for (const key of keys) {
    if (key.length === 0 || key.length > MAX_LABEL_KEY_LENGTH)
      throw badInput(`a label key must have 1 to ${MAX_LABEL_KEY_LENGTH} characters`, {
        key: key.slice(0, MAX_LABEL_KEY_LENGTH),
      });
  }
  const bytes = Buffer.byteLength(JSON.stringify(labels), 'utf8');
  if (bytes > limits.maxBytes) throw new QuotaExceededError('labelBytes', limits.maxBytes, 0, bytes);
}
