import { fork, type ChildProcess } from 'node:child_process';
import {
  jobErrorMessage,
  type Device,
  type JobError,
  type JobErrorCode,
  type JsonObject,
  type TaskManifest,
} from '#libs/contracts';
import {
  childMessages,
  type ChildMessage,
  type LogLevel,
  type RunnerSettings,
  type RunOrder,
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
  /** The actor's device: the runner's for its whole life (in its settings, not in every run). */
  device: Device;
  /** The root of the attempts' scratch dirs (runOrder): the runner's for its whole life. */
  workRoot: string;
  /** The runner's whole environment (an allow-list built by the worker: no platform secrets). */
  env: NodeJS.ProcessEnv;
  /** The runner's settings, passed as its argument (it parses no environment of its own). */
  settings: Omit<RunnerSettings, 'actorId' | 'commandTaskUser' | 'device' | 'workRoot'> & {
    commandTaskUser: Omit<RunnerSettings['commandTaskUser'], 'slot'>;
  };
  /** V8 heap limit of the runner (--max-old-space-size): one attempt cannot take the machine's memory. */
  maxOldSpaceMb?: number;
  bootTimeoutMs: number;
  /** SIGTERM → this long → SIGKILL of the runner's process group. */
  killGraceMs: number;
  /** How long a withdrawal waits for the runner's answer (default 5 s). */
  withdrawAnswerMs?: number;
  logger: RunnerLogger;
}

/** `recycle`: the run left memory in the runner, which must be replaced before its next attempt (why). */
export type RunOutcome =
  | { kind: 'result'; outputs: JsonObject; artifactIds: string[]; workDirUsed: boolean; recycle?: string }
  | { kind: 'error'; error: JobError; workDirUsed: boolean; unstarted?: true; recycle?: string }
  | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null };

/** A run handed to the runner: queued there, then running (the first of the queue), then ended. */
interface HandedRun {
  runId: string;
  /** Set when the actor claims the run (`run`); what came before is kept in `early`. */
  handlers?: RunHandlers;
  early: ChildMessage[];
  outcome: Promise<RunOutcome>;
  resolve: (o: RunOutcome) => void;
  /** How it ended, once it has (an unclaimed run's outcome waits here until it is claimed or taken). */
  ended?: RunOutcome;
}

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
  /** Runs in the runner, in order: the first is running, the rest wait in its queue. */
  private readonly inRunner: HandedRun[] = [];
  /** Runs queued with `enqueue` and not yet claimed by `run` (ended ones too: their outcome waits here). */
  private readonly unclaimed = new Map<string, HandedRun>();
  /** The withdrawal waiting for the runner's answer. */
  private withdrawing?: { requestId: string; resolve: (withdrawn: string[]) => void };
  private withdrawals: Promise<unknown> = Promise.resolve();
  private withdrawSeq = 0;
  private exitInfo?: { code: number | null; signal: NodeJS.Signals | null };
  /** The runner died while a run was in it (the processor of that run handles the loss, not the slot). */
  diedRunning = false;
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
        this.onExited(code, signal);
        for (const l of this.exitListeners) l(code, signal);
        resolve();
      }),
    );
    child.on('message', (raw) => this.onEnvelope(raw));
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
        for (const msg of childMessages(raw)) {
          if (msg instanceof Error) continue;
          if (msg.type === 'boot-failed') fail(msg.message);
          if (msg.type === 'ready') {
            cleanup();
            resolve(new RunnerProcess(child, msg.tasks, opts));
          }
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

  /**
   * Run one attempt; resolves with its result, its error, or the child's exit if it died while running it.
   * A run handed over with `enqueue` is claimed here (nothing is sent): what it reported before is replayed
   * to `handlers`, and an ended one resolves at once.
   */
  run(order: RunOrder, handlers: RunHandlers): Promise<RunOutcome> {
    const handed = this.unclaimed.get(order.runId);
    if (handed) {
      this.unclaimed.delete(order.runId);
      handed.handlers = handlers;
      for (const early of handed.early.splice(0)) this.dispatch(handed, early);
      return handed.outcome;
    }
    if (!this.alive) return Promise.resolve({ kind: 'exit', ...this.exitInfo! });
    if (this.inRunner.length > 0)
      throw new Error(`runner of ${this.opts.actorId} is already running ${this.inRunner[0]!.runId}`);
    this.lastBeat = Date.now();
    const run = this.handOver(order.runId, handlers);
    this.child.send(order.message);
    return run.outcome;
  }

  /**
   * Hands several attempts to an idle runner in one write (a lease's, decision 0007): it runs them in
   * order, each when the one before it ended. Each is then claimed with `run` (its watchdogs start there),
   * withdrawn, or cancelled; those the runner never started when it died are dropped (`holds` says no).
   * `startBy` (wall-clock ms): the runner starts none of them after it (RunsMessage), giving them back.
   */
  enqueue(orders: RunOrder[], startBy?: number): void {
    if (!this.alive || orders.length === 0) return;
    if (this.inRunner.length > 0)
      throw new Error(`runner of ${this.opts.actorId} is already running ${this.inRunner[0]!.runId}`);
    this.lastBeat = Date.now();
    for (const o of orders) this.unclaimed.set(o.runId, this.handOver(o.runId));
    const runs = orders.map((o) => o.message);
    this.child.send({ type: 'runs', runs, ...(startBy === undefined ? {} : { startBy }) });
  }

  /** A run is in the runner (running, or queued there). */
  get busy(): boolean {
    return this.inRunner.length > 0;
  }

  /** A run handed over with `enqueue` can still be claimed here: not withdrawn, nor lost unstarted. */
  holds(runId: string): boolean {
    return this.unclaimed.has(runId);
  }

  /**
   * A handed run that a cancel dropped from the runner's queue before its task started, not claimed yet: it
   * leaves the runner's books here (true), so its attempt is refused as cancelled without a `started` report.
   * False for any other run (one that started, or whose cancel the runner has not answered yet, is claimed).
   */
  takeCancelledUnstarted(runId: string): boolean {
    const ended = this.unclaimed.get(runId)?.ended;
    if (ended?.kind !== 'error' || !ended.unstarted || ended.error.code !== 'CANCELLED') return false;
    this.unclaimed.delete(runId);
    return true;
  }

  /**
   * Forgets the handed runs that ended unclaimed (their lease stopped before it came to them: a lost lock);
   * nobody will claim them, and a warm runner would otherwise keep them for its whole life.
   */
  forgetEnded(): void {
    for (const [runId, run] of this.unclaimed) if (run.ended) this.unclaimed.delete(runId);
  }

  /** The enqueued runs not claimed yet, in order. */
  get unclaimedRunIds(): string[] {
    return [...this.unclaimed.keys()];
  }

  /**
   * Takes back the runs of `runIds` the runner has not started; resolves with those taken back (a dead
   * runner started none of its queued ones). The others ran or run: claim them.
   */
  withdraw(runIds: string[]): Promise<string[]> {
    // one withdrawal at a time: the runner answers each in turn
    const next = this.withdrawals.then(() => this.withdrawNow(runIds));
    this.withdrawals = next.catch(() => undefined);
    return next;
  }

  private async withdrawNow(runIds: string[]): Promise<string[]> {
    const queued = runIds.filter((id) => this.inRunner.some((r) => r.runId === id && r !== this.inRunner[0]));
    if (queued.length === 0 || !this.alive || !this.child.connected) return [];
    const requestId = String(++this.withdrawSeq);
    let timer: NodeJS.Timeout | undefined;
    const answered = await new Promise<string[] | undefined>((resolve) => {
      this.withdrawing = { requestId, resolve };
      // A runner whose event loop is blocked does not answer: the caller goes on as if nothing came back
      // (what it then claims has its watchdogs); a late answer still drops what it names.
      timer = setTimeout(() => resolve(undefined), this.opts.withdrawAnswerMs ?? 5_000);
      this.child.send({ type: 'withdraw', requestId, runIds: queued });
    });
    clearTimeout(timer);
    if (this.withdrawing?.requestId === requestId) this.withdrawing = undefined;
    return answered ?? [];
  }

  /** Ask the task to stop (aborts ctx.signal with this code and reason); a queued run ends with that error. */
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

  private handOver(runId: string, handlers?: RunHandlers): HandedRun {
    let resolve!: (o: RunOutcome) => void;
    const outcome = new Promise<RunOutcome>((r) => (resolve = r));
    const run: HandedRun = { runId, early: [], outcome, resolve, ...(handlers ? { handlers } : {}) };
    this.inRunner.push(run);
    return run;
  }

  /** A run left the runner: ended (`outcome`), or withdrawn / lost unstarted (no outcome: nobody claims it). */
  private drop(runId: string, outcome?: RunOutcome): void {
    const i = this.inRunner.findIndex((r) => r.runId === runId);
    if (i < 0) return;
    const [run] = this.inRunner.splice(i, 1);
    if (outcome) {
      run!.ended = outcome;
      run!.resolve(outcome);
    } else {
      this.unclaimed.delete(runId);
      // never started: only a run claimed out of order could be waiting on it
      if (run!.handlers) run!.resolve({ kind: 'exit', ...(this.exitInfo ?? { code: null, signal: null }) });
    }
    // the next run starts now: its silence is measured from here
    if (i === 0) this.lastBeat = Date.now();
  }

  private onExited(code: number | null, signal: NodeJS.Signals | null): void {
    const [running, ...queued] = this.inRunner;
    this.diedRunning = running !== undefined;
    for (const q of queued) this.drop(q.runId);
    if (running) this.drop(running.runId, { kind: 'exit', code, signal });
    this.withdrawing?.resolve([]);
    this.withdrawing = undefined;
  }

  private onEnvelope(raw: unknown): void {
    this.lastBeat = Date.now();
    // one message at a time: a malformed one is dropped alone, not the turn's others (another attempt's result)
    for (const msg of childMessages(raw)) {
      if (msg instanceof Error)
        this.opts.logger.error(
          { actor: this.opts.actorId, err: msg.message },
          'runner sent a malformed message',
        );
      else this.onMessage(msg);
    }
  }

  private onMessage(msg: ChildMessage): void {
    if (msg.type === 'heartbeat' || msg.type === 'ready' || msg.type === 'boot-failed') return;
    if (msg.type === 'withdrawn') {
      // the runner will not start these: they leave it, whoever still waits for the answer
      for (const id of msg.runIds) this.drop(id);
      if (this.withdrawing?.requestId === msg.requestId) this.withdrawing.resolve(msg.runIds);
      return;
    }
    const run = this.inRunner.find((r) => r.runId === msg.runId);
    if (!run) return; // late message of a finished run
    if (msg.type === 'result' || msg.type === 'error' || run.handlers) this.dispatch(run, msg);
    else run.early.push(msg); // not claimed yet: replayed when it is
  }

  private dispatch(run: HandedRun, msg: ChildMessage): void {
    switch (msg.type) {
      case 'progress':
        run.handlers?.progress(msg.fraction, msg.message);
        return;
      case 'log':
        run.handlers?.log(msg.level, msg.message);
        return;
      case 'artifact':
        run.handlers?.artifact(msg.artifactId, msg.name);
        return;
      case 'storage':
        if (run.handlers) void this.answerStorage(run.handlers, msg);
        return;
      case 'result':
        // a runner that does not say is taken to have made its scratch dir
        this.drop(run.runId, {
          kind: 'result',
          outputs: msg.outputs,
          artifactIds: msg.artifactIds,
          workDirUsed: msg.workDirUsed ?? true,
          ...(msg.recycle ? { recycle: msg.recycle } : {}),
        });
        return;
      case 'error':
        this.drop(run.runId, {
          kind: 'error',
          error: msg.error,
          workDirUsed: msg.workDirUsed ?? true,
          ...(msg.unstarted ? { unstarted: true as const } : {}),
          ...(msg.recycle ? { recycle: msg.recycle } : {}),
        });
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

/** The runner's argument: the worker's settings plus this actor's id, slot, device and work root. */
function runnerSettings(opts: RunnerProcessOptions): RunnerSettings {
  const { commandTaskUser, ...settings } = opts.settings;
  return {
    ...settings,
    actorId: opts.actorId,
    device: opts.device,
    workRoot: opts.workRoot,
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
