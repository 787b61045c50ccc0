import { z } from 'zod';

/** A TCP port with a default. */
export const port = (fallback: number) =>
  z.coerce
    .number({ message: 'expected a port number' })
    .int('expected an integer port')
    .min(1, 'expected a port between 1 and 65535')
    .max(65535, 'expected a port between 1 and 65535')
    .default(fallback);

/** A positive integer with a default (durations in ms, counts, sizes). */
export const positiveInt = (fallback: number) =>
  z.coerce
    .number({ message: 'expected a number' })
    .int('expected an integer')
    .positive('expected a positive integer')
    .default(fallback);

export const nonNegativeInt = (fallback: number) =>
  z.coerce
    .number({ message: 'expected a number' })
    .int('expected an integer')
    .min(0, 'expected 0 or more')
    .default(fallback);

/** `1`/`true`/`yes` or `0`/`false`/`no`. */
export const flag = (fallback: boolean) =>
  z
    .enum(['1', '0', 'true', 'false', 'yes', 'no'], { message: 'expected 1/0, true/false or yes/no' })
    .transform((v) => v === '1' || v === 'true' || v === 'yes')
    .default(fallback);

export const url = (protocols: string[], example: string) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol.replace(':', ''));
      } catch {
        return false;
      }
    },
    `expected a ${protocols.join(' or ')} URL such as ${example}`,
  );

export const commaList = (fallback: string[]) =>
  z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .default(fallback);

/** Used by every app. */
export const runtimeEnv = {
  NODE_ENV: z
    .enum(['development', 'production', 'test'], { message: 'expected development, production or test' })
    .default('development'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'expected a pino level such as info',
    })
    .default('info'),
  SWITCHYARD_DATA_DIR: z.string().default('./.data'),
  SWITCHYARD_IDENTITY_SECRET: z.string().min(1).optional(),
  /** Bound address of HTTP servers; loopback by default so nothing is exposed by accident. */
  BIND_HOST: z.string().default('127.0.0.1'),
  SHUTDOWN_GRACE_MS: positiveInt(10000),
  /**
   * Longest an HTTP request may take to arrive, headers and body (node's `server.requestTimeout`, whose default
   * is 5 minutes): a client trickling a body is answered 408 and its connection closed after this. Answering
   * is not counted. Not 0 (no bound), nor so small that a slow client's honest body cannot make it.
   */
  HTTP_REQUEST_TIMEOUT_MS: z.coerce
    .number({ message: 'expected a number of milliseconds' })
    .int('expected an integer number of milliseconds')
    .min(1000, 'expected at least 1000 (ms): a request needs time to arrive')
    .max(600_000, 'expected at most 600000 (ms, 10 minutes)')
    .default(30_000),
};

/** `host:port,host:port` (Redis Sentinel addresses). */
const hostPortList = z.string().transform((v, ctx) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(entry);
      const port = m ? Number(m[2]) : 0;
      if (!m || port < 1 || port > 65535) {
        ctx.addIssue({
          code: 'custom',
          message: `expected host:port entries separated by commas (bad entry ${entry})`,
        });
        return z.NEVER;
      }
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
    }),
);

export const redisEnv = {
  /** With REDIS_SENTINELS, only its credentials, db and scheme (rediss: TLS) are used; the sentinels name the host. */
  REDIS_URL: url(['redis', 'rediss'], 'redis://127.0.0.1:6379').default('redis://127.0.0.1:6379'),
  /** Redis Sentinel: the sentinels' addresses; unset means connect to REDIS_URL directly. */
  REDIS_SENTINELS: hostPortList.optional(),
  /** The primary's name the sentinels monitor (`sentinel monitor <name> …`). */
  REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
};

export const s3Env = {
  S3_ENDPOINT: url(['http', 'https'], 'http://127.0.0.1:9000').default('http://127.0.0.1:9000'),
  S3_PUBLIC_ENDPOINT: url(['http', 'https'], 'https://s3.example.com').optional(),
  S3_ACCESS_KEY: z.string().min(1).optional(),
  S3_SECRET_KEY: z.string().min(1).optional(),
  S3_BUCKET: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
      'expected an S3 bucket name: 3-63 lowercase letters, digits, . or -',
    )
    .default('switchyard'),
  S3_REGION: z.string().default('us-east-1'),
};

export const portsEnv = {
  GATEWAY_PORT: port(4000),
  JOBS_SUBGRAPH_PORT: port(4001),
  ARTIFACTS_SUBGRAPH_PORT: port(4002),
  WORKER_HEALTH_PORT: port(4003),
};

export const isProduction = (c: { NODE_ENV: string }): boolean => c.NODE_ENV === 'production';
