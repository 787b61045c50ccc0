import { createHmac } from 'node:crypto';
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

  it('grant an upload as a POST policy bound to the key, the type, exactly the size and a short expiry', async () => {
    const expiresAt = new Date(Date.now() + 300_000);
    const post = await new ObjectStore(cfg, quiet).presignedPost('acme/incoming/a1/x.csv', {
      contentType: 'text/csv',
      size: 1234,
      expiresAt,
    });
    expect(post).toMatchObject({ url: 'http://127.0.0.1:9/bkt', method: 'POST', expiresAt });
    expect(post.fields).toMatchObject({
      bucket: 'bkt',
      key: 'acme/incoming/a1/x.csv',
      'Content-Type': 'text/csv',
      'x-amz-algorithm': 'AWS4-HMAC-SHA256',
    });
    // the policy the store checks is the signed one in the form, not what we say it is
    const policy = JSON.parse(Buffer.from(post.fields.policy!, 'base64').toString('utf8')) as {
      expiration: string;
      conditions: unknown[];
    };
    expect(policy.expiration).toBe(expiresAt.toISOString());
    expect(policy.conditions).toEqual(
      expect.arrayContaining([
        ['eq', '$bucket', 'bkt'],
        ['eq', '$key', 'acme/incoming/a1/x.csv'],
        ['eq', '$Content-Type', 'text/csv'],
        ['content-length-range', 1234, 1234],
      ]),
    );
    expect(policy.conditions).toEqual(post.conditions);
    // no condition widens it: no starts-with on the key or the type
    expect(JSON.stringify(policy.conditions)).not.toMatch(/starts-with/);
    // SigV4 POST: signature = HMAC(signing key of secret/date/region/s3, base64 policy)
    const [accessKey, day, region, service] = post.fields['x-amz-credential']!.split('/');
    expect([accessKey, region, service]).toEqual(['ak', 'us-east-1', 's3']);
    const hmac = (k: Buffer | string, v: string) => createHmac('sha256', k).update(v).digest();
    const signingKey = hmac(hmac(hmac(hmac('AWS4sk', day!), region!), service!), 'aws4_request');
    expect(post.fields['x-amz-signature']).toBe(
      createHmac('sha256', signingKey).update(post.fields.policy!).digest('hex'),
    );
  });

  it('sign downloads that answer as attachments of the recorded type', async () => {
    const get = await new ObjectStore(cfg, quiet).presignedGet('acme/uploads/a1/c1/x.csv', 60, {
      contentType: 'text/csv',
      contentDisposition: 'attachment; filename="x.csv"',
    });
    const url = new URL(get.url);
    expect(url.searchParams.get('response-content-type')).toBe('text/csv');
    expect(url.searchParams.get('response-content-disposition')).toBe('attachment; filename="x.csv"');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
  });

  it('point at S3_PUBLIC_ENDPOINT when set, so clients outside can reach them', async () => {
    const store = new ObjectStore({ ...cfg, publicEndpoint: 'https://files.example.com' }, quiet);
    const get = await store.presignedGet('acme/j/n/1/out.png', 60);
    expect(get.url.startsWith('https://files.example.com/bkt/acme/j/n/1/out.png?')).toBe(true);
    expect(new URL(get.url).searchParams.get('X-Amz-Expires')).toBe('60');
  });
});
