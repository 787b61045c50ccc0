import { loadConfig } from '#libs/config';
import { artifactPolicyEnv, objectStoreConfigFromEnv, StorageConfigError, storageEnv } from './index.js';

describe('storage config', () => {
  it('refuses missing and MinIO default credentials in production', () => {
    const env = loadConfig(storageEnv, {});
    expect(() => objectStoreConfigFromEnv(env, true)).toThrow(/S3_ACCESS_KEY and S3_SECRET_KEY must be set/);
    const defaults = loadConfig(storageEnv, { S3_ACCESS_KEY: 'minioadmin', S3_SECRET_KEY: 'minioadmin' });
    expect(() => objectStoreConfigFromEnv(defaults, true)).toThrow(StorageConfigError);
    const local = loadConfig(storageEnv, { S3_ACCESS_KEY: 'S3RVER', S3_SECRET_KEY: 'anything-goes-here' });
    expect(() => objectStoreConfigFromEnv(local, true)).toThrow(/refused in production/);
    const real = loadConfig(storageEnv, {
      S3_ACCESS_KEY: 'svc-artifacts',
      S3_SECRET_KEY: 's3cr3t-long-enough',
    });
    expect(objectStoreConfigFromEnv(real, true)).toMatchObject({
      accessKey: 'svc-artifacts',
      region: 'us-east-1',
    });
  });
  it('falls back to local defaults outside production', () => {
    expect(objectStoreConfigFromEnv(loadConfig(storageEnv, {}), false)).toMatchObject({
      accessKey: 'S3RVER',
      bucket: 'switchyard',
    });
  });
  it('parses upload limits with sensible defaults', () => {
    const c = loadConfig(artifactPolicyEnv, {});
    expect(c.ARTIFACT_ALLOWED_CONTENT_TYPES).toEqual(
      expect.arrayContaining(['image/png', 'text/csv', 'application/json']),
    );
    expect(c.ARTIFACT_RETENTION_DAYS).toBe(30);
    expect(
      loadConfig(artifactPolicyEnv, { ARTIFACT_ALLOWED_CONTENT_TYPES: 'Image/PNG, text/csv' })
        .ARTIFACT_ALLOWED_CONTENT_TYPES,
    ).toEqual(['image/png', 'text/csv']);
    expect(() => loadConfig(artifactPolicyEnv, { ARTIFACT_ALLOWED_CONTENT_TYPES: 'png' })).toThrow(
      /ARTIFACT_ALLOWED_CONTENT_TYPES/,
    );
  });
});
