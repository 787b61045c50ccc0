import { freePort, startApp, testCommandTaskEnv, type AppHandle } from '#libs/testing';

export const WORKER_ENTRY = 'dist/apps/gpu-worker/src/main.js';

/** Fast supervision settings so scenarios finish in seconds; each scenario overrides what it tests. */
export const FAST_WORKER_ENV: Record<string, string> = {
  SWITCHYARD_TEST_TASKS: '1',
  WORKER_NVIDIA_SMI: '/nonexistent/nvidia-smi', // CPU only, whatever this machine has
  WORKER_CPU_ACTORS: '1',
  WORKER_HEARTBEAT_INTERVAL_MS: '200',
  WORKER_HEARTBEAT_TIMEOUT_MS: '1500',
  WORKER_KILL_GRACE_MS: '500',
  WORKER_CANCEL_GRACE_MS: '1500',
  WORKER_RESTART_BACKOFF_MS: '100',
  WORKER_RESTART_BACKOFF_MAX_MS: '500',
  WORKER_MANIFEST_HEARTBEAT_MS: '500',
  WORKER_MANIFEST_TTL_MS: '3000',
  WORKER_LOCK_DURATION_MS: '3000',
  WORKER_STALLED_INTERVAL_MS: '1000',
  WORKER_CLOSE_TIMEOUT_MS: '3000',
  WORKER_WATCHDOG_INTERVAL_MS: '1000',
  WORKER_WATCHDOG_STALL_MS: '5000',
  WORKER_DRAIN_GRACE_MS: '2000',
};

export interface WorkerHandle extends AppHandle {
  id: string;
}

/**
 * Start a gpu-worker process (built JS) and wait until it is ready. Its command tasks run as this test run's
 * uids (testCommandTaskEnv), not the production 61000 + slot that another run on the machine may be using.
 */
export async function startWorker(
  id: string,
  env: Record<string, string>,
  waitReady = true,
): Promise<WorkerHandle> {
  const port = await freePort();
  const app = await startApp(
    WORKER_ENTRY,
    { ...FAST_WORKER_ENV, ...testCommandTaskEnv(), WORKER_ID: id, WORKER_HEALTH_PORT: String(port), ...env },
    port,
  );
  if (waitReady) {
    try {
      await app.waitReady(60_000);
    } catch (e) {
      await app.stop(); // the caller gets no handle to stop a worker that never became ready
      throw e;
    }
  }
  return Object.assign(app, { id });
}
