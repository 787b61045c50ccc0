import type { ChildProcess, StdioOptions } from 'node:child_process';
import { closeSync, createWriteStream, openSync, type WriteStream } from 'node:fs';
import { lifelineStdio, RestartPolicy, type RestartPolicyOptions } from '#libs/local-stack';
import { waitUntilReady } from './readiness.js';

/**
 * How often a starting app's readiness is probed (each app on its own). A probe is a refused connection or
 * one GET on loopback, but hundreds of them during a boot still take CPU from the apps booting on the same
 * cores: 100 ms is found ready within 50 ms on average at a quarter of the cost of 25 ms.
 */
export const READY_POLL_MS = 100;

export interface ManagedProcessSpec {
  name: string;
  /** Starts it with these stdio settings (the lifeline is fd 3). */
  spawn: (stdio: StdioOptions) => ChildProcess;
  logFile: string;
  /** Also stream its output to the launcher's terminal. */
  echo: boolean;
  /** `GET` answering 200 once it is ready again after a restart (apps); servers have none. */
  readyUrl?: string;
}

export interface ManagedProcessHooks {
  say(msg: string): void;
  /** It was (re)started: the stack file should list its new pid. */
  spawned(): void;
  /** It keeps crashing: the launcher stops the stack. */
  crashLoop(name: string, restarts: number): void;
}

const exitReason = (code: number | null, signal: NodeJS.Signals | null) => signal ?? `code ${code}`;

/**
 * One child of the launcher under a restart policy, as an orchestrator would run it: an unexpected exit is
 * restarted after a growing delay, and said; a crash loop is handed to the launcher. Logs append to one
 * file across restarts: the child writes into it itself (the file is its stdout and stderr, opened for
 * appending), so the launcher copies nothing; only with `echo` do its lines pass through the launcher.
 */
export class ManagedProcess {
  private proc?: ChildProcess;
  /** The log file: a descriptor the child writes to, or (echo) a stream the launcher copies into. */
  private readonly log: { fd: number } | { stream: WriteStream };
  private readonly policy: RestartPolicy;
  private stopping = false;
  private logClosed = false;
  private restartTimer?: NodeJS.Timeout;

  constructor(
    private readonly spec: ManagedProcessSpec,
    policy: RestartPolicyOptions,
    private readonly hooks: ManagedProcessHooks,
  ) {
    this.log = spec.echo
      ? { stream: createWriteStream(spec.logFile, { flags: 'a' }) }
      : { fd: openSync(spec.logFile, 'a') };
    this.policy = new RestartPolicy(policy);
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.running() ? this.proc?.pid : undefined;
  }

  start(): ChildProcess {
    const log = this.log;
    const proc = this.spec.spawn(lifelineStdio('fd' in log ? log.fd : undefined));
    this.proc = proc;
    if ('stream' in log)
      for (const stream of [proc.stdout, proc.stderr]) {
        stream?.pipe(log.stream, { end: false });
        stream?.on('data', (d: Buffer) => process.stdout.write(`[${this.name}] ${d}`));
      }
    proc.once('exit', (code, signal) => this.exited(code, signal));
    this.hooks.spawned();
    return proc;
  }

  private running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    const decision = this.policy.onExit(Date.now());
    const why = `${this.name} exited unexpectedly (${exitReason(code, signal)}); see ${this.spec.logFile}`;
    if (decision.action === 'give-up') {
      this.hooks.say(why);
      this.hooks.crashLoop(this.name, decision.recent);
      return;
    }
    this.hooks.say(
      `${why}. Restarting in ${(decision.delayMs / 1000).toFixed(1)} s (restart ${decision.recent})`,
    );
    this.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      this.start();
      if (this.spec.readyUrl) void this.announceReady(this.spec.readyUrl);
    }, decision.delayMs);
  }

  private async announceReady(url: string): Promise<void> {
    const proc = this.proc;
    const started = Date.now();
    const r = await waitUntilReady(url, {
      deadline: Infinity,
      intervalMs: READY_POLL_MS,
      cancelled: () => this.stopping || this.proc !== proc || !this.running(),
    });
    if (r.ready) this.hooks.say(`${this.name} is ready again (in ${Date.now() - started} ms)`);
  }

  /** SIGTERM, then SIGKILL at `deadline` (epoch ms); resolves once it has exited. No restart after this. */
  async stop(deadline: number): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const proc = this.proc;
    if (proc && this.running()) {
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const kill = setTimeout(
        () => {
          this.hooks.say(`${this.name} did not stop in time: SIGKILL`);
          proc.kill('SIGKILL');
        },
        Math.max(0, deadline - Date.now()),
      );
      await gone;
      clearTimeout(kill);
    }
    if (this.logClosed) return;
    this.logClosed = true;
    if ('stream' in this.log) this.log.stream.end();
    else closeSync(this.log.fd);
  }

  /** Last resort when the launcher itself is exiting on an error. */
  killNow(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    if (this.running()) this.proc?.kill('SIGKILL');
  }
}
