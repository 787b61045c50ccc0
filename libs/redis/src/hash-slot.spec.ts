import { crc16, hashSlot } from './hash-slot.js';

describe('hashSlot', () => {
  it('computes CRC16-XMODEM and the slots the Redis Cluster spec gives', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3); // the spec's check value
    expect(hashSlot('foo')).toBe(12182);
    expect(hashSlot('bar')).toBe(5061);
  });

  it('hashes only the tag between the first { and the next }', () => {
    expect(hashSlot('{user1000}.following')).toBe(hashSlot('user1000'));
    expect(hashSlot('{sy}:job:1')).toBe(hashSlot('{sy}:tenant:acme:jobs'));
    expect(hashSlot('foo{}{bar}')).toBe(hashSlot('foo{}{bar}')); // empty tag: the whole key
    expect(hashSlot('foo{}{bar}')).not.toBe(hashSlot('bar'));
    expect(hashSlot('foo{{bar}}zap')).toBe(hashSlot('{bar'));
  });
});
