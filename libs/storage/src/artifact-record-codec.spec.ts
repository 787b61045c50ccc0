import { ContractViolation, type ArtifactRecord } from '#libs/contracts';
import { decodeArtifactRecord, encodeArtifactRecord } from './index.js';

const staged: ArtifactRecord = {
  id: 'a1',
  tenant: 'acme',
  state: 'staged',
  key: 'acme/j/n/1/out.png',
  name: 'out.png',
  contentType: 'image/png',
  size: 1234,
  sha256: 'ab'.repeat(32),
  jobId: 'j',
  nodeId: 'n',
  attempt: 1,
  createdAt: '2026-11-28T12:00:00.000Z',
};

describe('artifact record hash encoding', () => {
  it('stores strings, numbers as decimals, and round-trips', () => {
    const hash = encodeArtifactRecord(staged);
    expect(hash.size).toBe('1234');
    expect(hash.attempt).toBe('1');
    expect(Object.values(hash).every((v) => typeof v === 'string')).toBe(true);
    expect(decodeArtifactRecord(hash)).toEqual(staged);
  });
  it('leaves optional fields out instead of writing empty strings', () => {
    const { jobId: _j, nodeId: _n, attempt: _a, ...upload } = staged;
    const hash = encodeArtifactRecord({ ...upload, state: 'pending' });
    expect(Object.keys(hash)).not.toEqual(expect.arrayContaining(['jobId']));
    expect('attempt' in hash).toBe(false);
    expect(decodeArtifactRecord(hash)).toEqual({ ...upload, state: 'pending' });
  });
  it('reads a missing hash as null and a corrupt one as a contract violation', () => {
    expect(decodeArtifactRecord({})).toBeNull();
    expect(() => decodeArtifactRecord({ ...encodeArtifactRecord(staged), size: '12kb' })).toThrow(
      ContractViolation,
    );
    expect(() => decodeArtifactRecord({ ...encodeArtifactRecord(staged), state: 'visible' })).toThrow(
      ContractViolation,
    );
  });
  it('refuses to encode an invalid record', () => {
    expect(() => encodeArtifactRecord({ ...staged, size: -1 })).toThrow(ContractViolation);
  });
});
