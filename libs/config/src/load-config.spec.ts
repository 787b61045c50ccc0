import { z } from 'zod';
import {
  ConfigError,
  flag,
  loadConfig,
  port,
  portsEnv,
  redisEnv,
  runtimeEnv,
  s3Env,
  commaList,
  shownValue,
} from './index.js';

describe('loadConfig', () => {
  const shape = { ...runtimeEnv, ...redisEnv, ...s3Env, ...portsEnv };

  it('applies the documented defaults', () => {
    const c = loadConfig(shape, {});
    expect(c.GATEWAY_PORT).toBe(4000);
    expect(c.JOBS_SUBGRAPH_PORT).toBe(4001);
    expect(c.ARTIFACTS_SUBGRAPH_PORT).toBe(4002);
    expect(c.WORKER_HEALTH_PORT).toBe(4003);
    expect(c.SWITCHYARD_DATA_DIR).toBe('./.data');
    expect(c.NODE_ENV).toBe('development');
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
  });

  it('parses given values', () => {
    const c = loadConfig(shape, {
      GATEWAY_PORT: '5000',
      REDIS_URL: 'redis://10.0.0.1:6380',
      S3_BUCKET: 'my-bucket',
    });
    expect(c.GATEWAY_PORT).toBe(5000);
    expect(c.REDIS_URL).toBe('redis://10.0.0.1:6380');
    expect(c.S3_BUCKET).toBe('my-bucket');
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig(shape, { GATEWAY_PORT: '' }).GATEWAY_PORT).toBe(4000);
  });

  it('names every bad variable and what it expects', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig(shape, { GATEWAY_PORT: 'abc', REDIS_URL: 'http://x', NODE_ENV: 'prod', S3_BUCKET: 'A' });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const vars = err!.problems.map((p) => p.variable).sort();
    expect(vars).toEqual(['GATEWAY_PORT', 'NODE_ENV', 'REDIS_URL', 'S3_BUCKET']);
    expect(err!.message).toMatch(/GATEWAY_PORT: expected a port number.*"abc"/);
    expect(err!.message).toMatch(/REDIS_URL: expected a redis or rediss URL/);
    expect(err!.message).toMatch(/NODE_ENV: expected development, production or test/);
  });

  it('bounds HTTP_REQUEST_TIMEOUT_MS (30 s by default; never 0, which would be no bound)', () => {
    expect(loadConfig(shape, {}).HTTP_REQUEST_TIMEOUT_MS).toBe(30_000);
    expect(loadConfig(shape, { HTTP_REQUEST_TIMEOUT_MS: '1500' }).HTTP_REQUEST_TIMEOUT_MS).toBe(1500);
    expect(() => loadConfig(shape, { HTTP_REQUEST_TIMEOUT_MS: '0' })).toThrow(
      /HTTP_REQUEST_TIMEOUT_MS: expected at least 1000 \(ms\)/,
    );
    expect(() => loadConfig(shape, { HTTP_REQUEST_TIMEOUT_MS: '3600000' })).toThrow(
      /HTTP_REQUEST_TIMEOUT_MS: expected at most 600000/,
    );
    expect(() => loadConfig(shape, { HTTP_REQUEST_TIMEOUT_MS: '30s' })).toThrow(
      /HTTP_REQUEST_TIMEOUT_MS: expected a number of milliseconds/,
    );
  });

  it('rejects out-of-range ports and bad flags', () => {
    expect(() => loadConfig({ P: port(1) }, { P: '70000' })).toThrow(
      /P: expected a port between 1 and 65535/,
    );
    expect(() => loadConfig({ F: flag(false) }, { F: 'maybe' })).toThrow(/F: expected 1\/0/);
    expect(loadConfig({ F: flag(false) }, { F: 'yes' }).F).toBe(true);
    expect(loadConfig({ F: flag(true) }, {}).F).toBe(true);
    expect(loadConfig({ L: commaList(['a', 'b']) }, {}).L).toEqual(['a', 'b']);
    expect(loadConfig({ L: commaList(['a']) }, { L: 'x, y,,z' }).L).toEqual(['x', 'y', 'z']);
    expect(loadConfig({ X: z.string().optional() }, {}).X).toBeUndefined();
  });
});

describe('configuration errors never echo a secret', () => {
  const shape = { ...runtimeEnv, ...redisEnv, ...s3Env };
  const message = (env: Record<string, string>) => {
    try {
      loadConfig(shape, env);
    } catch (e) {
      return (e as ConfigError).message;
    }
    throw new Error('expected a ConfigError');
  };

  it('hides the password of a bad REDIS_URL, well-formed or not', () => {
    for (const bad of [
      'http://admin:hunter2-secret@redis.internal:6379',
      'redis//admin:hunter2-secret@redis.internal:6379',
      'redis://admin:hunter2-secret@redis.internal:99999',
      ':hunter2-secret@redis.internal',
    ]) {
      const m = message({ REDIS_URL: bad });
      expect(m).toMatch(/REDIS_URL/);
      expect(m).not.toMatch(/hunter2/);
      expect(m).toMatch(/redis\.internal/); // still says which host was meant
    }
    expect(message({ S3_ENDPOINT: 'ftp://k:hunter2-secret@s3?token=abc' })).not.toMatch(/hunter2|abc/);
  });

  it('does not show secret-named variables at all', () => {
    const m = message({
      SWITCHYARD_IDENTITY_SECRET: '',
      S3_SECRET_KEY: '',
      S3_ENDPOINT: 'nope',
      NODE_ENV: 'prod',
    });
    expect(m).toMatch(/S3_ENDPOINT/);
    expect(shownValue('S3_SECRET_KEY', 'hunter2')).not.toMatch(/hunter2/);
    expect(shownValue('SWITCHYARD_IDENTITY_SECRET', 'hunter2')).toBe('a value of 7 characters, not shown');
    expect(shownValue('GATEWAY_PORT', 'abc')).toBe('"abc"');
  });
});
