import { Worker } from 'node:worker_threads';

// Runs on its own thread, so it works while a task blocks the main event loop (test.busy).
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
setInterval(() => {
  if (process.ppid !== workerData.ppid) process.kill(workerData.pid, 'SIGKILL');
}, workerData.intervalMs);
`;

/**
 * Kills this runner process when its actor's process is gone (SIGKILLed worker): the runner lives in its
 * own process group, so nothing else would end a task that ignores the closed IPC channel.
 */
export function startOrphanWatchdog(intervalMs = 1000): Worker {
  const worker = new Worker(WATCHDOG_SOURCE, {
    eval: true,
    workerData: { ppid: process.ppid, pid: process.pid, intervalMs },
  });
  worker.unref();
  return worker;
}
