/** Shortest gap between two progress updates of a command that reach the attempt. */
export const PROGRESS_INTERVAL_MS = 200;

export interface ThrottledProgress {
  (fraction: number, message?: string): void;
  /** Sends the update still waiting, if any, and stops the timer (the command has exited). */
  flush(): void;
}

/**
 * Forwards progress at most once per `intervalMs`, always the latest: a command may print progress lines as
 * fast as it likes (each would otherwise cross IPC to the actor), and the last one it printed still arrives,
 * within `intervalMs` or at flush. Progress is a state, not a log: the updates in between are replaced, not lost.
 */
export function throttledProgress(
  forward: (fraction: number, message?: string) => void,
  intervalMs = PROGRESS_INTERVAL_MS,
): ThrottledProgress {
  let lastSent = -Infinity;
  let pending: { fraction: number; message?: string } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const send = (p: { fraction: number; message?: string }) => {
    lastSent = Date.now();
    forward(p.fraction, p.message);
  };
  const sendPending = () => {
    timer = undefined;
    const p = pending;
    pending = undefined;
    if (p) send(p);
  };
  const progress = (fraction: number, message?: string) => {
    const update = message === undefined ? { fraction } : { fraction, message };
    const wait = lastSent + intervalMs - Date.now();
    if (!timer && wait <= 0) return send(update);
    pending = update;
    timer ??= setTimeout(sendPending, Math.max(wait, 0));
  };
  progress.flush = () => {
    clearTimeout(timer);
    sendPending();
  };
  return progress;
}
