import type { JsonObject } from '#libs/contracts';
import { retryDelayMs } from './backoff.js';
import { resolveRefs, UnresolvedRefError } from './resolve-refs.js';
import type { Redis } from 'ioredis';
import { OutputValidator } from './output-validator.js';

describe('retryDelayMs', () => {
  const policy = { baseMs: 1000, capMs: 8000 };
  it('doubles per failure, capped, with jitter between half and all of it', () => {
    expect(retryDelayMs(1, policy, () => 0)).toBe(500);
    expect(retryDelayMs(1, policy, () => 1)).toBe(1000);
    expect(retryDelayMs(3, policy, () => 1)).toBe(4000);
    expect(retryDelayMs(10, policy, () => 1)).toBe(8000);
    expect(retryDelayMs(10, policy, () => 0)).toBe(4000);
  });
});

describe('resolveRefs', () => {
  const outputs = { train: { model: 'art-1', metrics: { loss: 0.1 } } };
  it('replaces refs at any depth by upstream outputs and keeps literals (and nulls)', () => {
    expect(
      resolveRefs(
        {
          model: { $ref: 'train.outputs.model' },
          list: [{ $ref: 'train.outputs.metrics' }, 3],
          keep: null,
          n: { deep: 'x' },
        },
        (id) => (outputs as unknown as Record<string, JsonObject>)[id],
      ),
    ).toEqual({ model: 'art-1', list: [{ loss: 0.1 }, 3], keep: null, n: { deep: 'x' } });
  });
  it('fails clearly when the upstream output is absent', () => {
    expect(() => resolveRefs({ m: { $ref: 'train.outputs.absent' } }, () => ({}))).toThrow(
      UnresolvedRefError,
    );
    expect(() => resolveRefs({ m: { $ref: 'other.outputs.x' } }, () => undefined)).toThrow(
      /no recorded outputs/,
    );
  });
});

describe('OutputValidator', () => {
  it('names each bad field (a node with its schema inline, as written before schema refs)', async () => {
    // no Redis: an inline schema is never read from it
    const v = new OutputValidator(null as unknown as Redis);
    const outputSchema = {
      type: 'object',
      properties: { sum: { type: 'number' } },
      required: ['sum'],
      additionalProperties: false,
    };
    expect(await v.check({ outputSchema }, { sum: 3 })).toEqual([]);
    expect((await v.check({ outputSchema }, { sum: 'x', extra: 1 })).join('; ')).toMatch(
      /\/sum: must be number/,
    );
  });
});
