import { fork, type ChildProcess } from 'node:child_process';
import {
  jobErrorMessage,
  parseContract,
  type JobError,
  type JobErrorCode,
  type JsonObject,
  type TaskManifest,
} from '#libs/contracts';
import {
  ChildMessage,
  type LogLevel,
  type RunnerSettings,
  type RunMessage,
  type StorageRequest,
  type StorageResult,
} from './ipc-protocol.js';

export interface RunnerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RunnerProcessOptions {
  /** Built runner entry (dist/apps/gpu-worker/src/runner/runner-main.js). */
  entry: string;
  actorId: string;
  /** Set in the child's environment before any task code loads; "" hides every GPU. */
  cudaVisibleDevices: string;
  /** The actor's slot: its command tasks run as their own uid. */
  slot?: number;
  /** The runner's whole environment (an allow-list built by the worker: no platform secrets). */
  env: NodeJS.ProcessEnv;
  /** The runner's settings, passed as its argument (it parses no environment of its own). */
  settings: Omit<RunnerSettings, 'actorId' | 'commandTaskUser'> & {
    commandTaskUser: Omit<RunnerSettings['commandTaskUser'], 'slot'>;
  };
  /** V8 heap limit of the runner (--max-old-space-size): one attempt cannot take the machine's memory. */
  maxOldSpaceMb?: number;
  bootTimeoutMs: number;
  /** SIGTERM → this long → SIGKILL of the runner's process group. */
  killGraceMs: number;
  logger: RunnerLogger;
}

export type RunOutcome =
  | { kind: 'result'; outputs: JsonObject; artifactIds: string[]; workDirUsed: boolean }
  | { kind: 'error'; error: JobError; workDirUsed: boolean }
  | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null };

export interface RunHandlers {
  progress(fraction: number, message?: string): void;
  log(level: LogLevel, message: string): void;
  artifact(artifactId: string, name: string): void;
  /** Artifact access of the running attempt, done by the actor for the runner (no credentials there). */
  storage?(req: StorageRequest): Promise<Omit<StorageResult, 'type' | 'requestId'>>;
}

export class RunnerBootError extends Error {
  readonly code = 'RUNNER_BOOT_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'RunnerBootError';
  }
}

/**
 * The actor's handle on its warm task runner process. The child is forked as the leader of its own
 * process group, so a kill reaches whatever the task spawned too.
 */
export class RunnerProcess {
  private lastBeat = Date.now();
  private current?: { runId: string; handlers: RunHandlers; resolve: (o: RunOutcome) => void };
  private exitInfo?: { code: number | null; signal: NodeJS.Signals | null };
  private stderrTail = '';
  private readonly exited: Promise<void>;
  private readonly exitListeners: Array<(code: number | null, signal: NodeJS.Signals | null) => void> = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly tasks: TaskManifest[],
    private readonly opts: RunnerProcessOptions,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        this.current?.resolve({ kind: 'exit', code, signal });
        this.current = undefined;
        for (const l of this.exitListeners) l(code, signal);
        resolve();
      }),
    );
    child.on('message', (raw) => this.onMessage(raw));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-4096);
    });
  }

  /** V8 reported the heap limit on stderr: the runner died of an attempt's memory use. */
  get outOfMemory(): boolean {
    return /heap out of memory|Reached heap limit|Allocation failed/i.test(this.stderrTail);
  }

  /** Fork the runner and wait for its `ready` (tasks loaded); RunnerBootError when it cannot boot. */
  static start(opts: RunnerProcessOptions): Promise<RunnerProcess> {
    const child = fork(opts.entry, [JSON.stringify(runnerSettings(opts))], {
      detached: true, // own process group: kill(-pid) reaches the task's children
      execArgv: [
        '--enable-source-maps',
        ...(opts.maxOldSpaceMb ? [`--max-old-space-size=${opts.maxOldSpaceMb}`] : []),
      ],
      env: {
        ...opts.env,
        CUDA_VISIBLE_DEVICES: opts.cudaVisibleDevices,
        NODE_OPTIONS: '',
      },
      // stderr is piped (and passed on) so a V8 out-of-memory death can be told from other crashes.
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        cleanup();
        killGroup(child, 'SIGKILL');
        reject(new RunnerBootError(`runner of ${opts.actorId}: ${why}`));
      };
      const timer = setTimeout(() => fail(`not ready within ${opts.bootTimeoutMs} ms`), opts.bootTimeoutMs);
      const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
        fail(`exited during boot (code ${code}, signal ${signal})`);
      const onError = (err: Error) => fail(err.message);
      const onMessage = (raw: unknown) => {
        const parsed = ChildMessage.safeParse(raw);
        if (!parsed.success) return;
        if (parsed.data.type === 'boot-failed') fail(parsed.data.message);
        if (parsed.data.type === 'ready') {
          cleanup();
          resolve(new RunnerProcess(child, parsed.data.tasks, opts));
        }
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.off('exit', onExit);
        child.off('error', onError);
        child.off('message', onMessage);
      };
      child.on('exit', onExit);
      child.on('error', onError);
      child.on('message', onMessage);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  /** When the child last proved its event loop turns (a heartbeat or any message). */
  get lastHeartbeatAt(): number {
    return this.lastBeat;
  }

  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.exitListeners.push(listener);
  }

  /** Run one attempt; resolves with its result, its error, or the child's exit if it died first. */
  run(msg: RunMessage, handlers: RunHandlers): Promise<RunOutcome> {
    if (!this.alive) return Promise.resolve({ kind: 'exit', ...this.exitInfo! });
    if (this.current)
      throw new Error(`runner of ${this.opts.actorId} is already running ${this.current.runId}`);
    this.lastBeat = Date.now();
    return new Promise((resolve) => {
      this.current = { runId: msg.runId, handlers, resolve };
      this.child.send(msg);
    });
  }

  /** Ask the task to stop (aborts ctx.signal with this code and reason). */
  cancel(runId: string, code: JobErrorCode, reason: string): void {
    if (this.alive && this.child.connected) this.child.send({ type: 'cancel', runId, code, reason });
  }

  /** SIGTERM the process group, SIGKILL it after the grace; resolves once the runner has exited. */
  async kill(): Promise<void> {
    if (this.alive) {
      killGroup(this.child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(this.child, 'SIGKILL'), this.opts.killGraceMs);
      await this.exited;
      clearTimeout(timer);
    }
    // The runner is gone; anything it spawned that ignored SIGTERM goes too.
    killGroup(this.child, 'SIGKILL');
  }

  /** SIGKILL the process group now, without waiting (a drain out of time). */
  killNow(): void {
    killGroup(this.child, 'SIGKILL');
  }

  private async answerStorage(handlers: RunHandlers, req: StorageRequest): Promise<void> {
    const result = await answerStorageRequest(handlers, req);
    if (this.alive && this.child.connected)
      this.child.send({
        type: 'storage-result',
        requestId: req.requestId,
        ...result,
      } satisfies StorageResult);
  }

  private onMessage(raw: unknown): void {
    this.lastBeat = Date.now();
    let msg: ChildMessage;
    try {
      msg = parseContract(ChildMessage, 'ChildMessage', raw);
    } catch (e) {
      this.opts.logger.error(
        { actor: this.opts.actorId, err: (e as Error).message },
        'runner sent a malformed message',
      );
      return;
    }
    const run = this.current;
    if (msg.type === 'heartbeat' || msg.type === 'ready' || msg.type === 'boot-failed') return;
    if (!run || msg.runId !== run.runId) return; // late message of a finished run
    switch (msg.type) {
      case 'progress':
        run.handlers.progress(msg.fraction, msg.message);
        return;
      case 'log':
        run.handlers.log(msg.level, msg.message);
        return;
      case 'artifact':
        run.handlers.artifact(msg.artifactId, msg.name);
        return;
      case 'storage':
        void this.answerStorage(run.handlers, msg);
        return;
      case 'result':
        this.current = undefined;
        // a runner that does not say is taken to have made its scratch dir
        run.resolve({
          kind: 'result',
          outputs: msg.outputs,
          artifactIds: msg.artifactIds,
          workDirUsed: msg.workDirUsed ?? true,
        });
        return;
      case 'error':
        this.current = undefined;
        run.resolve({ kind: 'error', error: msg.error, workDirUsed: msg.workDirUsed ?? true });
        return;
    }
  }
}

async function answerStorageRequest(
  handlers: RunHandlers,
  req: StorageRequest,
): Promise<Omit<StorageResult, 'type' | 'requestId'>> {
  if (!handlers.storage)
    return {
      error: { code: 'STORAGE_UNAVAILABLE', message: 'no artifact storage for this run', retryable: false },
    };
  try {
    return await handlers.storage(req);
  } catch (e) {
    return {
      error: {
        code: 'STORAGE_UNAVAILABLE',
        message: jobErrorMessage(String((e as Error).message || e)),
        retryable: true,
      },
    };
  }
}

/** The runner's argument: the worker's settings plus this actor's id and slot. */
function runnerSettings(opts: RunnerProcessOptions): RunnerSettings {
  const { commandTaskUser, ...settings } = opts.settings;
  return {
    ...settings,
    actorId: opts.actorId,
    commandTaskUser: { ...commandTaskUser, slot: opts.slot ?? 0 },
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}
