import { loadGatewayConfig } from '../gateway-config.js';

const SECRET = 'a-production-identity-secret-of-enough-length-0123456789';

describe('ADMIN_UI_ENABLED', () => {
  it('defaults to on outside production and off in production', () => {
    expect(loadGatewayConfig({}).adminUiEnabled).toBe(true);
    expect(loadGatewayConfig({ NODE_ENV: 'test' }).adminUiEnabled).toBe(true);
    expect(
      loadGatewayConfig({ NODE_ENV: 'production', SWITCHYARD_IDENTITY_SECRET: SECRET }).adminUiEnabled,
    ).toBe(false);
  });

  it('follows an explicit setting in either mode', () => {
    expect(loadGatewayConfig({ NODE_ENV: 'production', ADMIN_UI_ENABLED: '1' }).adminUiEnabled).toBe(true);
    expect(loadGatewayConfig({ ADMIN_UI_ENABLED: 'false' }).adminUiEnabled).toBe(false);
  });

  it('names the variable when the value is not a flag', () => {
    expect(() => loadGatewayConfig({ ADMIN_UI_ENABLED: 'maybe' })).toThrow(/ADMIN_UI_ENABLED/);
  });
});
