import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './load-config.js';
import { nonNegativeInt } from './fields.js';

/** HTTPS (and WSS on the same server) for an app that faces clients. */
export const tlsEnv = {
  /** PEM certificate chain and private key; both or neither. */
  TLS_CERT_FILE: z.string().optional(),
  TLS_KEY_FILE: z.string().optional(),
  /** `Strict-Transport-Security: max-age=…` sent over HTTPS; 0 sends none. */
  HSTS_MAX_AGE_SECONDS: nonNegativeInt(31_536_000),
};

export interface TlsSettings {
  cert: Buffer;
  key: Buffer;
  hstsMaxAgeSeconds: number;
}

/** The certificate and key read once at start-up, or undefined for plain HTTP; every problem is a ConfigError. */
export function loadTls(c: {
  TLS_CERT_FILE?: string;
  TLS_KEY_FILE?: string;
  HSTS_MAX_AGE_SECONDS: number;
}): TlsSettings | undefined {
  if (!c.TLS_CERT_FILE && !c.TLS_KEY_FILE) return undefined;
  if (!c.TLS_CERT_FILE || !c.TLS_KEY_FILE) {
    const missing = c.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE';
    throw new ConfigError([{ variable: missing, expected: 'set TLS_CERT_FILE and TLS_KEY_FILE together' }]);
  }
  const read = (variable: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new ConfigError([
        {
          variable,
          expected: `a readable PEM file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'}: ${path})`,
        },
      ]);
    }
  };
  return {
    cert: read('TLS_CERT_FILE', c.TLS_CERT_FILE),
    key: read('TLS_KEY_FILE', c.TLS_KEY_FILE),
    hstsMaxAgeSeconds: c.HSTS_MAX_AGE_SECONDS,
  };
}
