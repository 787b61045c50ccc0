import type { Redis } from 'ioredis';
import { REDIS_KEYS } from '#libs/contracts';
import { defineScripts } from '#libs/redis';

/**
 * The scheduler's atomic transitions (and the fair-share stage's steps), one file each in `lua/` (see
 * defineScripts in #libs/redis for the naming and `--@include` rules; shared helpers are in `lua/includes/`).
 */
export const SCHEDULER_SCRIPT_NAMES = [
  'submitJob',
  'startAttempt',
  'recordProgress',
  'appendLog',
  'completeAttempt',
  'failAttempt',
  'releaseAttempt',
  'cancelJob',
  'failJob',
  'retryJob',
  'purgeJob',
  'recountTenantUsage',
  'fairEnqueue',
  'fairDispatch',
  'fairRelease',
  'fairRemove',
  'fairTakeBack',
] as const;
export type ScriptName = (typeof SCHEDULER_SCRIPT_NAMES)[number];

export const SCHEDULER_SCRIPTS = defineScripts({
  label: 'scheduler',
  dir: new URL('./lua/', import.meta.url),
  names: SCHEDULER_SCRIPT_NAMES,
});

/** Runs a transition script by sha, loading it on first use (and after a Redis restart flushed the cache). */
export const runScript = (
  redis: Redis,
  name: ScriptName,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<unknown> => SCHEDULER_SCRIPTS.run(redis, name, keys, args);

/** Runs a transition script: the arguments every one takes first (lua/includes/common.lua), then its own. */
export const runTransition = (
  redis: Redis,
  nowMs: number,
  name: ScriptName,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<unknown> =>
  runScript(redis, name, keys, [new Date(nowMs).toISOString(), nowMs, REDIS_KEYS.cancelChannel, ...args]);
