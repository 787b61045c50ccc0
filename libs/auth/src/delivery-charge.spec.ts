import {
  DeliveryCharge,
  DeliveryChargeUnavailable,
  DeliveryRateLimited,
  type ChargeDecision,
} from './delivery-charge.js';

/** A key's bucket as the charge sees it: every take recorded, answered when the test says so. */
class Bucket {
  readonly takes: { keyId: string; tokens: number; answer(d: ChargeDecision | Error): void }[] = [];
  readonly take = (keyId: string, tokens: number) =>
    new Promise<ChargeDecision>((resolve, reject) =>
      this.takes.push({ keyId, tokens, answer: (d) => (d instanceof Error ? reject(d) : resolve(d)) }),
    );
}
const settle = () => new Promise((r) => setImmediate(r));
const COST_PER_TOKEN = 25_000;
const notRefused = (e: unknown) => {
  throw new Error(`refused: ${String(e)}`);
};

describe('DeliveryCharge', () => {
  it('charges nothing for thousands of events of a cheap selection', () => {
    const bucket = new Bucket();
    const ended: unknown[] = [];
    // jobFeed { seq type }: cost 3
    const charge = new DeliveryCharge(
      { take: bucket.take, costPerToken: COST_PER_TOKEN, maxBatch: 60 },
      'k1',
      3,
      (e) => ended.push(e),
    );
    for (let i = 0; i < 8_000; i++) charge.delivered();
    expect(bucket.takes).toEqual([]);
    // the 8,334th event brings the sum to a whole token: one take, for one token
    for (let i = 0; i < 334; i++) charge.delivered();
    expect(bucket.takes.map((t) => [t.keyId, t.tokens])).toEqual([['k1', 1]]);
    expect(ended).toEqual([]);
  });

  it('takes the tokens of a heavy selection in batches, one round trip at a time', async () => {
    const bucket = new Bucket();
    const charge = new DeliveryCharge(
      { take: bucket.take, costPerToken: COST_PER_TOKEN, maxBatch: 60 },
      'k1',
      5_000,
      () => notRefused,
    );
    for (let i = 0; i < 5; i++) charge.delivered();
    expect(bucket.takes.map((t) => t.tokens)).toEqual([1]);
    // delivered while the first take is in flight: they wait for its answer, then go in one batch
    for (let i = 0; i < 52; i++) charge.delivered();
    expect(bucket.takes).toHaveLength(1);
    bucket.takes[0]!.answer({ allowed: true });
    await settle();
    expect(bucket.takes.map((t) => t.tokens)).toEqual([1, 10]);
    bucket.takes[1]!.answer({ allowed: true });
    await settle();
    expect(bucket.takes).toHaveLength(2); // 2 events' cost (10,000) owed: under a token
    expect(charge.taken).toBe(11);
  });

  it('never asks for more than a burst at once: the rest follows in the next batch', async () => {
    const bucket = new Bucket();
    const charge = new DeliveryCharge(
      { take: bucket.take, costPerToken: 100, maxBatch: 4 },
      'k1',
      100,
      () => notRefused,
    );
    charge.delivered();
    for (let i = 0; i < 9; i++) charge.delivered();
    bucket.takes[0]!.answer({ allowed: true });
    await settle();
    bucket.takes[1]!.answer({ allowed: true });
    await settle();
    bucket.takes[2]!.answer({ allowed: true });
    await settle();
    expect(bucket.takes.map((t) => t.tokens)).toEqual([1, 4, 4, 1]);
  });

  it('a refusal ends the subscription once, with the retry time, and charges nothing more', async () => {
    const bucket = new Bucket();
    const ended: unknown[] = [];
    const charge = new DeliveryCharge(
      { take: bucket.take, costPerToken: 100, maxBatch: 10 },
      'k1',
      100,
      (e) => ended.push(e),
    );
    charge.delivered();
    bucket.takes[0]!.answer({ allowed: false, retryAfterSeconds: 7 });
    await settle();
    expect(ended).toHaveLength(1);
    expect(ended[0]).toBeInstanceOf(DeliveryRateLimited);
    expect((ended[0] as DeliveryRateLimited).retryAfterSeconds).toBe(7);
    for (let i = 0; i < 10; i++) charge.delivered();
    expect(bucket.takes).toHaveLength(1);
  });

  it('an unreachable limiter: tolerated while under a burst is owed, then the subscription ends UNAVAILABLE', async () => {
    const bucket = new Bucket();
    const ended: unknown[] = [];
    const charge = new DeliveryCharge({ take: bucket.take, costPerToken: 100, maxBatch: 3 }, 'k1', 100, (e) =>
      ended.push(e),
    );
    charge.delivered();
    bucket.takes[0]!.answer(new Error('connection refused'));
    await settle();
    expect(ended).toEqual([]);
    // the blip is over: the owed token goes with the next one
    charge.delivered();
    expect(bucket.takes[1]!.tokens).toBe(2);
    bucket.takes[1]!.answer({ allowed: true });
    await settle();
    expect(charge.taken).toBe(2);
    // down for good: owed tokens pile up to more than a burst
    for (let i = 0; i < 4; i++) {
      charge.delivered();
      bucket.takes.at(-1)!.answer(new Error('connection refused'));
      await settle();
    }
    expect(ended).toHaveLength(1);
    expect(ended[0]).toBeInstanceOf(DeliveryChargeUnavailable);
  });

  it('a subscription that ends otherwise still pays for what it was sent, and nothing more', async () => {
    const bucket = new Bucket();
    const ended: unknown[] = [];
    const charge = new DeliveryCharge({ take: bucket.take, costPerToken: 100, maxBatch: 4 }, 'k1', 100, (e) =>
      ended.push(e),
    );
    // a replay of 10 delivered in one burst, then the end: before any answer came back
    for (let i = 0; i < 10; i++) charge.delivered();
    charge.close();
    charge.delivered();
    bucket.takes[0]!.answer({ allowed: true });
    await settle();
    bucket.takes[1]!.answer({ allowed: true });
    await settle();
    bucket.takes[2]!.answer({ allowed: true });
    await settle();
    expect(bucket.takes.map((t) => t.tokens)).toEqual([1, 4, 4, 1]);
    // refused after the end: nothing to end, nothing more taken
    bucket.takes[3]!.answer({ allowed: false, retryAfterSeconds: 1 });
    await settle();
    expect(ended).toEqual([]);
    expect(bucket.takes).toHaveLength(4);
  });

  it('a cost under one token owed at the end is not charged', () => {
    const bucket = new Bucket();
    const charge = new DeliveryCharge(
      { take: bucket.take, costPerToken: 100, maxBatch: 4 },
      'k1',
      99,
      notRefused,
    );
    charge.delivered();
    charge.close();
    expect(bucket.takes).toEqual([]);
  });
});
