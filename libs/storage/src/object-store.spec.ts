import { ObjectStore, type StorageLogger } from './index.js';

const quiet: StorageLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

describe('presigned URLs', () => {
  // Nothing listens on these endpoints: presigning is local (the region is fixed, no lookup).
  const cfg = { endpoint: 'http://127.0.0.1:9', accessKey: 'ak', secretKey: 'sk', bucket: 'bkt' };

  it('point at the configured endpoint, with expiry and signature', async () => {
    const put = await new ObjectStore(cfg, quiet).presignedPut('acme/uploads/a1/x.csv', 600, 'text/csv');
    const url = new URL(put.url);
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe(
      'http://127.0.0.1:9/bkt/acme/uploads/a1/x.csv',
    );
    expect(url.searchParams.get('X-Amz-Expires')).toBe('600');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(put).toMatchObject({ method: 'PUT', headers: { 'Content-Type': 'text/csv' } });
    expect(put.expiresAt.getTime()).toBeGreaterThan(Date.now() + 590_000);
  });

  it('point at S3_PUBLIC_ENDPOINT when set, so clients outside can reach them', async () => {
    const store = new ObjectStore({ ...cfg, publicEndpoint: 'https://files.example.com' }, quiet);
    const get = await store.presignedGet('acme/j/n/1/out.png', 60);
    expect(get.url.startsWith('https://files.example.com/bkt/acme/j/n/1/out.png?')).toBe(true);
    expect(new URL(get.url).searchParams.get('X-Amz-Expires')).toBe('60');
  });
});
