import { Socket } from 'node:net';

/**
 * The lifeline: a pipe the launcher opens to each child as file descriptor 3. The launcher never writes to
 * it; when the launcher dies, whatever killed it (SIGKILL included), the kernel closes its end and the child
 * reads end-of-file. That is the one signal no launcher crash can fail to send.
 */
export const LIFELINE_ENV = 'SWITCHYARD_LIFELINE_FD';
export const LIFELINE_FD = 3;

/**
 * Spawn options that hand a child the lifeline: stdin ignored, fd 3 the lifeline; stdout/stderr piped, or
 * written straight into `output` (a file descriptor, e.g. its log file opened for appending).
 */
export const lifelineStdio = (output?: number): ['ignore', number | 'pipe', number | 'pipe', 'pipe'] => [
  'ignore',
  output ?? 'pipe',
  output ?? 'pipe',
  'pipe',
];

/**
 * In a child: calls `onLost` once when the launcher that started this process is gone. Does nothing when
 * the process was not started with a lifeline (run by hand, by Docker, by a test). The variable is removed
 * so that this process's own children (task runners) do not believe they hold the lifeline.
 */
export function watchLifeline(onLost: () => void): void {
  const raw = process.env[LIFELINE_ENV];
  if (!raw) return;
  delete process.env[LIFELINE_ENV];
  const fd = Number(raw);
  if (!Number.isInteger(fd) || fd < 3) return;
  let fired = false;
  const lost = () => {
    if (fired) return;
    fired = true;
    onLost();
  };
  let line: Socket;
  try {
    line = new Socket({ fd, readable: true, writable: false });
  } catch {
    return; // not a pipe we can watch (a stale variable): nothing to do
  }
  line.on('data', () => {}); // the launcher writes nothing; reading keeps the stream flowing to 'end'
  line.once('end', lost);
  line.once('close', lost);
  line.once('error', lost);
  line.unref(); // the lifeline alone never keeps a process alive
}
