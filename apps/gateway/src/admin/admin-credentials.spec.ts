import { ADMIN_CHALLENGE, apiKeyFromAdminAuthorization } from './admin-credentials.js';

const basic = (userPass: string) => `Basic ${Buffer.from(userPass, 'utf8').toString('base64')}`;
const KEY = `sy_${'a'.repeat(16)}_${'b'.repeat(64)}`;

describe('apiKeyFromAdminAuthorization', () => {
  it('takes the key from the Basic password and ignores the user name', () => {
    expect(apiKeyFromAdminAuthorization(basic(`admin:${KEY}`))).toBe(KEY);
    expect(apiKeyFromAdminAuthorization(basic(`:${KEY}`))).toBe(KEY);
    expect(apiKeyFromAdminAuthorization(basic(`anyone at all:${KEY}`))).toBe(KEY);
    expect(apiKeyFromAdminAuthorization(`bAsIc ${Buffer.from(`x:${KEY}`).toString('base64')}`)).toBe(KEY);
  });

  it('accepts a Bearer token for scripts', () => {
    expect(apiKeyFromAdminAuthorization(`Bearer ${KEY}`)).toBe(KEY);
  });

  it('returns null for missing, empty or malformed credentials', () => {
    expect(apiKeyFromAdminAuthorization(undefined)).toBeNull();
    expect(apiKeyFromAdminAuthorization(['Basic x'])).toBeNull();
    expect(apiKeyFromAdminAuthorization('')).toBeNull();
    expect(apiKeyFromAdminAuthorization('Basic')).toBeNull();
    expect(apiKeyFromAdminAuthorization('Basic !!!')).toBeNull();
    expect(apiKeyFromAdminAuthorization(basic('no-colon-here'))).toBeNull();
    expect(apiKeyFromAdminAuthorization(basic('user:'))).toBeNull();
    expect(apiKeyFromAdminAuthorization(basic('user:two words'))).toBeNull();
    expect(apiKeyFromAdminAuthorization(KEY)).toBeNull(); // a bare key is not a scheme browsers send
    expect(apiKeyFromAdminAuthorization(`Digest ${KEY}`)).toBeNull();
  });

  it('challenges with the switchyard admin realm', () => {
    expect(ADMIN_CHALLENGE).toBe('Basic realm="switchyard admin"');
  });
});
