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
  it('reads S3_REQUEST_TIMEOUT_MS as the longest time without progress', () => {
    expect(loadConfig(storageEnv, {}).S3_REQUEST_TIMEOUT_MS).toBe(15000);
    expect(() => loadConfig(storageEnv, { S3_REQUEST_TIMEOUT_MS: '0' })).toThrow(
      /S3_REQUEST_TIMEOUT_MS.*without moving a byte/,
    );
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
  it('keeps upload grants short and has a stored-bytes quota per tenant by default', () => {
    const c = loadConfig(artifactPolicyEnv, {});
    expect(c.ARTIFACT_UPLOAD_URL_TTL_SECONDS).toBe(300);
    expect(c.TENANT_MAX_STORED_BYTES).toBe(50 * 1024 ** 3);
    expect(loadConfig(artifactPolicyEnv, { TENANT_MAX_STORED_BYTES: '0' }).TENANT_MAX_STORED_BYTES).toBe(0);
    expect(() => loadConfig(artifactPolicyEnv, { ARTIFACT_UPLOAD_URL_TTL_SECONDS: '86400' })).toThrow(
      /ARTIFACT_UPLOAD_URL_TTL_SECONDS/,
    );
    expect(() => loadConfig(artifactPolicyEnv, { ARTIFACT_MAX_UPLOAD_BYTES: String(6 * 1024 ** 3) })).toThrow(
      /ARTIFACT_MAX_UPLOAD_BYTES/,
    );
    expect(() => loadConfig(artifactPolicyEnv, { TENANT_MAX_STORED_BYTES: '-1' })).toThrow(
      /TENANT_MAX_STORED_BYTES/,
    );
  });
  it('has an artifact-count quota per tenant by default, and names the variable of a bad value', () => {
    expect(loadConfig(artifactPolicyEnv, {}).TENANT_MAX_ARTIFACTS).toBe(100_000);
    expect(loadConfig(artifactPolicyEnv, { TENANT_MAX_ARTIFACTS: '0' }).TENANT_MAX_ARTIFACTS).toBe(0);
    expect(() => loadConfig(artifactPolicyEnv, { TENANT_MAX_ARTIFACTS: '-1' })).toThrow(
      /TENANT_MAX_ARTIFACTS.*0 or more/,
    );
    expect(() => loadConfig(artifactPolicyEnv, { TENANT_MAX_ARTIFACTS: 'lots' })).toThrow(
      /TENANT_MAX_ARTIFACTS.*expected a number/,
    );
  });
});
