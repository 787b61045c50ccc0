import type { Redis } from 'ioredis';
import { NODE_QUEUES, REDIS_KEYS } from '#libs/contracts';
import { DomainError } from '#libs/errors';

/**
 * Every key and its value (DUMP), less the keys the fixture writes on its own schedule (BullMQ queue meta and
 * stalled checks, the reports stream, worker manifests): "nothing persisted" compares values, not just names,
 * because a refused submit must not even touch a counter that already exists.
 */
export async function snapshot(redis: Redis): Promise<Map<string, string>> {
  const queues = Object.values(NODE_QUEUES);
  const keys = (await redis.keys('*')).filter(
    (k) =>
      k !== REDIS_KEYS.reports &&
      k !== REDIS_KEYS.workers &&
      !k.startsWith(REDIS_KEYS.worker('')) &&
      !queues.some((q) => k.endsWith(`${q}:meta`) || k.endsWith(`${q}:stalled-check`)),
  );
  const out = new Map<string, string>();
  for (const k of keys.sort()) out.set(k, ((await redis.dumpBuffer(k)) ?? Buffer.alloc(0)).toString('hex'));
  return out;
}

/** The DomainError `p` rejects with (fails the test when it resolves or rejects with anything else). */
export const refusal = async (p: Promise<unknown>): Promise<DomainError> => {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DomainError);
  return e as DomainError;
};
