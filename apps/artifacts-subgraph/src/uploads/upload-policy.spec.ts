import { checkStoredUpload, checkUploadRequest, isRejection, type UploadLimits } from './upload-policy.js';

const limits: UploadLimits = { maxBytes: 1000, allowedContentTypes: ['image/png', 'text/csv'] };
const sha = 'a'.repeat(64);

describe('checkUploadRequest', () => {
  it('normalises an acceptable request', () => {
    expect(
      checkUploadRequest(
        { name: 'in put.csv', contentType: 'Text/CSV; charset=utf-8', size: 10, sha256: sha.toUpperCase() },
        limits,
      ),
    ).toEqual({
      name: 'in_put.csv',
      contentType: 'text/csv',
      size: 10,
      sha256: sha,
    });
    expect(
      checkUploadRequest({ name: 'a.png', contentType: 'image/png', size: 0, sha256: null }, limits),
    ).toEqual({
      name: 'a.png',
      contentType: 'image/png',
      size: 0,
    });
  });
  it.each([
    [{ name: '..', contentType: 'image/png', size: 1 }, 'INVALID_NAME'],
    [{ name: 'x.exe', contentType: 'application/x-msdownload', size: 1 }, 'CONTENT_TYPE_NOT_ALLOWED'],
    [{ name: 'x.png', contentType: 'image/png', size: 1001 }, 'TOO_LARGE'],
    [{ name: 'x.png', contentType: 'image/png', size: 1.5 }, 'INVALID_SIZE'],
    [{ name: 'x.png', contentType: 'image/png', size: -1 }, 'INVALID_SIZE'],
    [{ name: 'x.png', contentType: 'image/png', size: 1, sha256: 'xyz' }, 'INVALID_SHA256'],
  ])('refuses %j as %s', (req, reason) => {
    const r = checkUploadRequest(req, limits);
    expect(isRejection(r) && r.reason).toBe(reason);
  });
});

describe('checkStoredUpload', () => {
  const declared = { size: 10, contentType: 'text/csv', sha256: sha };
  it('accepts a matching object', () => {
    expect(
      checkStoredUpload(declared, { size: 10, contentType: 'text/csv', sha256: sha }, limits),
    ).toBeNull();
    expect(
      checkStoredUpload(
        { ...declared, sha256: '' },
        { size: 10, contentType: 'text/csv', sha256: 'b'.repeat(64) },
        limits,
      ),
    ).toBeNull();
  });
  it.each([
    [{ size: 11, contentType: 'text/csv' }, 'SIZE_MISMATCH'],
    [{ size: 5000, contentType: 'text/csv' }, 'TOO_LARGE'],
    [{ size: 10, contentType: 'image/png' }, 'CONTENT_TYPE_MISMATCH'],
    [{ size: 10, contentType: 'text/csv', sha256: 'b'.repeat(64) }, 'SHA256_MISMATCH'],
  ])('refuses %j as %s', (stored, reason) => {
    expect(checkStoredUpload(declared, stored, limits)?.reason).toBe(reason);
  });
});
