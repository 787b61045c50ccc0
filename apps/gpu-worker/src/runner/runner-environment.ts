/**
 * What a runner (and so all task code) may see of the worker's environment: an allow-list. No Redis or
 * S3 credentials, no SWITCHYARD_IDENTITY_SECRET, nothing an operator adds later unless it is listed here.
 */
const ALLOWED = [
  /^(PATH|HOME|LANG|TZ|USER|TMPDIR|LD_LIBRARY_PATH)$/,
  /^LC_[A-Z]+$/,
  /^(CUDA|NVIDIA)_[A-Z0-9_]+$/,
  /^TF_[A-Z0-9_]+$/, // tensorflow's own knobs (log level, threads)
  /^(NODE_ENV|LOG_LEVEL|SWITCHYARD_DATA_DIR|SWITCHYARD_TEST_TASKS)$/,
  /^WORKER_COMMAND_TASKS_FILE$/,
];

/**
 * The runner's environment: the allowed variables of `env`, for the task code. The runner's own settings
 * do not travel here: the worker passes them as its argument (ipc-protocol.ts, RunnerSettings).
 */
export function runnerEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env))
    if (v !== undefined && ALLOWED.some((re) => re.test(k))) out[k] = v;
  return out;
}
