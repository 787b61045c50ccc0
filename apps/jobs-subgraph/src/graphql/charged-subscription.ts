import { createSourceEventStream, execute, type ExecutionArgs, type ExecutionResult } from 'graphql';
import {
  deliveryEndedAnswer,
  type DeliveryCharge,
  type DeliveryChargeUnavailable,
  type DeliveryEnd,
  type DeliveryRateLimited,
} from '#libs/auth';
import { DomainError, domainGraphQLError } from '#libs/errors';

export interface ChargedSubscriptionOptions {
  /** The charge of its delivered events, ending it through `onEnd` (null: nothing to charge). */
  charge(onEnd: DeliveryEnd): DeliveryCharge | null;
  /** The cursor a source event resumes after (the subscription's `after:`), if it has one. */
  cursorOf(event: unknown): string | undefined;
}

const STOPPED = Symbol('stopped');
const done = (): IteratorReturnResult<undefined> => ({ done: true, value: undefined });

/**
 * graphql-js's subscribe (the source stream, each event executed with it as the root value) with each event
 * delivered charged (DeliveryCharge): when the charge ends it — the key's bucket refused, or the limiter stayed
 * unreachable — the subscription's last result is the error our gateway gives its own clients (RATE_LIMITED
 * `subscriptionEvents`, or UNAVAILABLE, `resumeAfter` the last delivered event's cursor), then it completes and its
 * source is closed. An event that was not yet handed over when the charge ended is not delivered (the client resumes
 * at it). A hand-written iterator, as at the gateway: a pending read is cut short by the end or the client's
 * complete, so neither waits for the next event.
 */
export async function subscribeCharged(
  args: ExecutionArgs,
  options: ChargedSubscriptionOptions,
): Promise<AsyncGenerator<ExecutionResult, undefined> | ExecutionResult> {
  const stream = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in stream)) return stream;
  const source = stream[Symbol.asyncIterator]();
  let finished = false;
  let lastCursor: string | undefined;
  let cut: DeliveryRateLimited | DeliveryChargeUnavailable | null = null;
  /** Cuts the read in progress short (one per read: nothing piles up over a long subscription's events). */
  let interrupt: (() => void) | undefined;
  const interrupted = () => new Promise<typeof STOPPED>((resolve) => (interrupt = () => resolve(STOPPED)));
  const charge = options.charge((error) => {
    cut = error;
    interrupt?.();
  });
  const finish = async () => {
    if (finished) return;
    finished = true;
    charge?.close();
    interrupt?.();
    await source.return?.();
  };
  const ended = (
    error: DeliveryRateLimited | DeliveryChargeUnavailable,
  ): IteratorYieldResult<ExecutionResult> => {
    // closes the source without waiting: its pending read (if any) then ends too
    finish().catch(() => undefined);
    const { code, message, extensions } = deliveryEndedAnswer(error, lastCursor);
    return {
      done: false,
      value: { errors: [domainGraphQLError(new DomainError(code, message, extensions))] },
    };
  };
  const iterator = {
    async next(): Promise<IteratorResult<ExecutionResult, undefined>> {
      if (finished) return done();
      if (cut) return ended(cut);
      let read: IteratorResult<unknown> | typeof STOPPED;
      const pending = source.next();
      pending.catch(() => undefined); // a read cut short may still fail: nobody waits for it any more
      try {
        read = await Promise.race([pending, interrupted()]);
      } catch (error) {
        await finish();
        throw error;
      } finally {
        interrupt = undefined;
      }
      if (finished) return done();
      if (cut) return ended(cut);
      if (read === STOPPED || read.done) {
        await finish();
        return done();
      }
      const event = read.value;
      const result = await execute({ ...args, rootValue: event });
      if (finished) return done();
      if (cut) return ended(cut);
      lastCursor = options.cursorOf(event) ?? lastCursor;
      // handed to graphql-ws, which sends it before asking for the next
      charge?.delivered();
      return { done: false, value: result };
    },
    async return(): Promise<IteratorReturnResult<undefined>> {
      await finish();
      return done();
    },
    async throw(error: unknown): Promise<never> {
      await finish();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return iterator as unknown as AsyncGenerator<ExecutionResult, undefined>;
}
