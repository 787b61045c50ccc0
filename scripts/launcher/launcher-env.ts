// The launcher's own environment (`npm start`), in a module of its own so a spec can pin its names and defaults.
import { z } from 'zod';
import { port, portsEnv, positiveInt, runtimeEnv, s3Env, url } from '#libs/config';

export const launcherEnv = {
  ...runtimeEnv,
  ...portsEnv,
  // Unset means "start the embedded server" here, so no default.
  REDIS_URL: url(['redis', 'rediss'], 'redis://127.0.0.1:6379').optional(),
  S3_ENDPOINT: url(['http', 'https'], 'http://127.0.0.1:9000').optional(),
  S3_BUCKET: s3Env.S3_BUCKET,
  /** Ports of the embedded servers (used only when they are started here). */
  SWITCHYARD_REDIS_PORT: port(6379),
  SWITCHYARD_S3_PORT: port(9000),
  SWITCHYARD_READY_TIMEOUT_MS: positiveInt(120_000),
  /** More restarts of one child than this within the window is a crash loop: the stack stops. */
  SWITCHYARD_RESTART_MAX: positiveInt(5),
  SWITCHYARD_RESTART_WINDOW_MS: positiveInt(60_000),
  /** Ctrl-C/SIGTERM: every child is down within this (SIGKILL for whatever is left). */
  SWITCHYARD_STOP_TIMEOUT_MS: positiveInt(25_000),
  /** `console` also streams every app's JSON log lines to this terminal. */
  SWITCHYARD_LOGS: z.enum(['files', 'console'], { message: 'expected files or console' }).default('files'),
};
