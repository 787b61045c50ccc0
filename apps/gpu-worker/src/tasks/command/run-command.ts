import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { TaskError } from '#libs/task-sdk';
import { BoundedLineSplitter } from './bounded-lines.js';

export interface RunCommandOptions {
  argv: readonly string[];
  cwd: string;
  /** The complete environment of the command (nothing is inherited). */
  env: Record<string, string>;
  signal: AbortSignal;
  onProgress(fraction: number, message?: string): void;
  /** Each line of stdout (but progress lines) and stderr, cut at `maxLineBytes`. */
  onLine(stream: 'stdout' | 'stderr', line: string): void;
  /** Bytes kept of one output line (default MAX_LINE_BYTES); the rest is dropped and the line marked. */
  maxLineBytes?: number;
  /** Between SIGTERM and SIGKILL of the command's process group when the signal aborts. */
  killGraceMs?: number;
  /** Run as this user and group (the runner runs as root). */
  uid?: number;
  gid?: number;
}

export interface CommandResult {
  exitCode: number | null;
  /** Set when the command died of a signal. */
  exitSignal: NodeJS.Signals | null;
  /** The last lines of stderr, for the failure message. */
  stderrTail: string[];
}

const STDERR_TAIL_LINES = 20;
/**
 * Bytes kept of one stdout/stderr line: what the runner holds of a line is bounded whatever the command prints
 * (a longer line is cut and marked, and reading goes on).
 */
export const MAX_LINE_BYTES = 16 * 1024;
const DRAIN_AFTER_EXIT_MS = 2000;

/**
 * Process groups of commands running in this process. The command runs in its own group so that a
 * cancellation kills it with everything it started. Being outside the runner's group, it would survive
 * the supervisor's kill of the runner: so when this process exits, or gets SIGTERM (the supervisor's
 * first step), the running groups are killed too.
 */
const runningGroups = new Set<number>();
let exitHookInstalled = false;

function onSigterm(): void {
  if (process.listenerCount('SIGTERM') > 1) {
    // someone else handles SIGTERM (and will exit later: the exit hook SIGKILLs what is left)
    for (const pgid of runningGroups) signalGroup(pgid, 'SIGTERM');
    return;
  }
  // Alone, this listener replaced Node's default (die now): nobody would be left to escalate, so the
  // commands go with SIGKILL, then the default is restored and the signal re-raised.
  killRunningCommands();
  process.removeListener('SIGTERM', onSigterm);
  process.kill(process.pid, 'SIGTERM');
}

/**
 * Installs the exit hook and the SIGTERM listener before a command is spawned: a SIGTERM that arrives while
 * spawn() returns is then handled (on the event loop) after the group is tracked. Installed after the
 * spawn, a runner killed in that window died of the default action and left the command running.
 */
function guardBeforeSpawn(): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', killRunningCommands);
  }
  if (!process.listeners('SIGTERM').includes(onSigterm)) process.on('SIGTERM', onSigterm);
}

function unguardWhenIdle(): void {
  if (runningGroups.size === 0) process.removeListener('SIGTERM', onSigterm);
}

/** SIGKILLs every running command's process group (for a runner that is about to exit). */
export function killRunningCommands(): void {
  for (const pgid of runningGroups) signalGroup(pgid, 'SIGKILL');
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}

/** `{"progress":0.5,"message":"..."}` → a progress update; any other line → null. */
export function parseProgressLine(line: string): { fraction: number; message?: string } | null {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return null;
  try {
    const value = JSON.parse(trimmed) as unknown;
    if (!value || typeof value !== 'object') return null;
    const { progress, message } = value as { progress?: unknown; message?: unknown };
    if (typeof progress !== 'number') return null;
    return typeof message === 'string' ? { fraction: progress, message } : { fraction: progress };
  } catch {
    return null;
  }
}

/**
 * Runs argv without a shell in a new process group, streaming its output line by line. Resolves when it
 * has exited (whatever the code); rejects only when it could not be started.
 */
export function runCommand(opts: RunCommandOptions): Promise<CommandResult> {
  const [command, ...args] = opts.argv;
  const graceMs = opts.killGraceMs ?? 5000;
  return new Promise((resolve, reject) => {
    guardBeforeSpawn();
    let child: ChildProcess;
    try {
      child = spawn(command!, args, {
        cwd: opts.cwd,
        env: opts.env,
        detached: true, // its own process group: signals reach everything it started
        ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.gid ?? opts.uid }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      unguardWhenIdle();
      throw err;
    }
    const stderrTail: string[] = [];
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      if (child.pid === undefined) return;
      signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), graceMs);
    };

    child.once('error', (err: NodeJS.ErrnoException) => {
      opts.signal.removeEventListener('abort', onAbort);
      unguardWhenIdle();
      reject(
        new TaskError('TASK_FAILED', `command ${command} could not start: ${err.code ?? err.message}`, {
          retryable: err.code !== 'ENOENT' && err.code !== 'EACCES',
        }),
      );
    });
    if (child.pid === undefined) return; // 'error' follows
    const pgid = child.pid;
    runningGroups.add(pgid);

    const maxLineBytes = opts.maxLineBytes ?? MAX_LINE_BYTES;
    const streamsClosed = Promise.all([
      readLines(child.stdout!, maxLineBytes, (line) => {
        const progress = parseProgressLine(line);
        if (progress) opts.onProgress(progress.fraction, progress.message);
        else opts.onLine('stdout', line);
      }),
      readLines(child.stderr!, maxLineBytes, (line) => {
        stderrTail.push(line);
        if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
        opts.onLine('stderr', line);
      }),
    ]);

    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });

    child.once('exit', (exitCode, exitSignal) => {
      opts.signal.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      // whatever it left running in its group (and that may hold its stdout open) ends with it
      signalGroup(pgid, 'SIGKILL');
      runningGroups.delete(pgid);
      unguardWhenIdle();
      const bound = new Promise<void>((r) => setTimeout(r, DRAIN_AFTER_EXIT_MS).unref());
      void Promise.race([streamsClosed, bound]).then(() => resolve({ exitCode, exitSignal, stderrTail }));
    });
  });
}

/** Feeds a pipe of the command to a bounded line splitter; resolves when the pipe has closed. */
function readLines(stream: Readable, maxBytes: number, onLine: (line: string) => void): Promise<void> {
  const lines = new BoundedLineSplitter(maxBytes, onLine);
  stream.on('data', (chunk: Buffer) => lines.push(chunk));
  stream.once('end', () => lines.end());
  // 'close' follows 'end', or an error (EPIPE, destroyed): the output ends there either way
  stream.on('error', () => undefined);
  return new Promise((resolve) => stream.once('close', resolve));
}
