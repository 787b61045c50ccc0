import { z } from 'zod';

/** A bad environment: names every variable that is wrong and what it expects. The app refuses to start. */
export class ConfigError extends Error {
  constructor(readonly problems: Array<{ variable: string; expected: string }>) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.expected}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type EnvShape = Record<string, z.ZodType>;
export type ConfigOf<S extends EnvShape> = z.infer<z.ZodObject<S>>;

/**
 * Parse the environment once with zod. Empty strings count as unset, so `FOO=` falls back to the default
 * instead of failing a number parse.
 */
export function loadConfig<S extends EnvShape>(shape: S, env: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(shape)) {
    const v = env[key];
    input[key] = v === undefined || v.trim() === '' ? undefined : v.trim();
  }
  const result = z.object(shape).safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => {
        const variable = String(i.path[0] ?? '(environment)');
        return { variable, expected: `${i.message} (got ${shownValue(variable, input[variable])})` };
      }),
    );
  }
  return result.data as ConfigOf<S>;
}

/** Names of variables whose value is a secret as a whole. */
const SECRET_NAME = /SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|(^|_)KEY$|_KEY_|PRIVATE/i;

/**
 * A bad value as a configuration error may show it: never a secret. Secret-named variables are not shown
 * at all; anything else loses whatever precedes its last `@` (the user:password of a URL such as REDIS_URL,
 * also when the URL is malformed) and a `password=`/`token=` query parameter.
 */
export function shownValue(variable: string, value: string | undefined): string {
  if (value === undefined) return 'null';
  if (SECRET_NAME.test(variable)) return `a value of ${value.length} characters, not shown`;
  const redacted = value
    .replace(/^([a-z][a-z0-9+.-]*:\/*)?.*@/i, (_m, scheme: string | undefined) => `${scheme ?? ''}***@`)
    .replace(/([?&](?:password|pass|pwd|token|secret|key)=)[^&#]*/gi, '$1***');
  return JSON.stringify(redacted);
}
