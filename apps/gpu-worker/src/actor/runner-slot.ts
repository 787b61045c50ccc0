import type { TaskManifest } from '#libs/contracts';
import { RunnerProcess, type RunnerLogger, type RunnerProcessOptions } from '../runner/runner-process.js';
import { restartBackoffMs } from '../supervisor/restart-intensity.js';
import type { RestartPolicy } from '../supervisor/supervisor.js';
import type { WorkerMetrics } from '../worker-metrics.js';
import { sleep } from './retry.js';

/**
 * Who lost the runner. 'attempt': the running attempt did it (timeout, stuck, ignored cancel, crash or
 * OOM) — the attempt fails, the actor is not to blame. 'platform': we stopped it for our own reasons
 * (lost lock, undeliverable reports, drain). 'actor': the runner failed by itself (cannot boot, died idle)
 * — only these count against the restart intensity.
 */
export type RunnerLossBlame = 'attempt' | 'platform' | 'actor';

export type SlotState = 'RESTARTING' | 'READY' | 'QUARANTINED';

export interface QuarantineInfo {
  reason: string;
  since: string;
  until: string;
}

export interface RunnerSlotOptions {
  actorId: string;
  runner: RunnerProcessOptions;
  decideRestart: RestartPolicy;
  /** The actor came back from quarantine: its restart intensity starts afresh. */
  onRecovered: () => void;
  onRunnerReady: (tasks: TaskManifest[]) => void;
  onState: (state: SlotState) => void;
  /** An attempt is running: a runner death is then the processor's to handle, not an idle death. */
  isBusy: () => boolean;
  restartBackoff: { baseMs: number; maxMs: number };
  /** How long a quarantined actor waits before it probes its runner again. */
  quarantineCooldownMs: number;
  logger: RunnerLogger;
  metrics: WorkerMetrics;
}

/**
 * The actor's warm runner: starts it, restarts it after a loss (blaming the right party), and
 * quarantines the actor only for its own faults — never for good: after the cool-down it probes the
 * runner (start, wait for ready) and comes back, or stays quarantined for another cool-down.
 */
export class RunnerSlot {
  private runner?: RunnerProcess;
  private recovering?: Promise<void>;
  private consecutiveFailures = 0;
  private quarantine?: QuarantineInfo;
  private probeTimer?: NodeJS.Timeout;
  private stopped = false;
  private markStopped!: () => void;
  private readonly stopping = new Promise<void>((r) => (this.markStopped = r));
  restarts = 0;

  constructor(private readonly o: RunnerSlotOptions) {}

  get quarantined(): QuarantineInfo | undefined {
    return this.quarantine;
  }

  get current(): RunnerProcess | undefined {
    return this.runner;
  }

  /** First boot; a boot failure goes through the restart policy (it is the actor's own fault). */
  async start(): Promise<void> {
    try {
      await this.startRunner();
    } catch (e) {
      await this.lost(`runner failed to boot: ${(e as Error).message}`, 'actor');
    }
  }

  /** The runner to run an attempt on, after any restart in progress; undefined when there is none. */
  async ready(): Promise<RunnerProcess | undefined> {
    await this.recovering;
    if (this.stopped || this.quarantine || !this.runner?.alive) return undefined;
    return this.runner;
  }

  /** The runner was lost (or must be replaced): restart it, charging the restart to `blame`. */
  lost(reason: string, blame: RunnerLossBlame): Promise<void> {
    this.recovering ??= this.recover(reason, blame).finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  /** Drain: no more restarts or probes; the runner is killed. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.markStopped();
    clearTimeout(this.probeTimer);
    await this.recovering?.catch(() => undefined);
    await this.runner?.kill();
  }

  /** A drain out of time: no more restarts, and the runner is SIGKILLed now. */
  abandon(): void {
    this.stopped = true;
    this.markStopped();
    clearTimeout(this.probeTimer);
    this.runner?.killNow();
  }

  private async recover(reason: string, blame: RunnerLossBlame): Promise<void> {
    let why = reason;
    let chargeActor = blame === 'actor';
    for (;;) {
      if (this.stopped) return;
      if (chargeActor && this.o.decideRestart(this.o.actorId, why) === 'quarantine') {
        await this.enterQuarantine(why);
        return;
      }
      this.restarts += 1;
      if (chargeActor) this.consecutiveFailures += 1;
      this.o.onState('RESTARTING');
      this.o.metrics.runnerRestarted(this.o.actorId, blame);
      // A loss caused by an attempt says nothing about the runner: restart at once, no backoff.
      const delay = chargeActor
        ? restartBackoffMs(
            this.consecutiveFailures,
            this.o.restartBackoff.baseMs,
            this.o.restartBackoff.maxMs,
          )
        : 0;
      this.o.logger.warn(
        {
          actor: this.o.actorId,
          reason: why,
          blame: chargeActor ? 'actor' : blame,
          delayMs: delay,
          restarts: this.restarts,
        },
        'restarting the runner',
      );
      await this.runner?.kill();
      if (delay > 0) await Promise.race([sleep(delay), this.stopping]);
      if (this.stopped) return;
      try {
        await this.startRunner();
        if (chargeActor) this.consecutiveFailures = 0;
        this.o.onState('READY');
        return;
      } catch (e) {
        // The runner cannot boot: whatever killed the last one, this is the actor's own fault.
        why = `runner failed to boot: ${(e as Error).message}`;
        chargeActor = true;
      }
    }
  }

  private async enterQuarantine(reason: string): Promise<void> {
    const now = Date.now();
    this.quarantine = {
      reason: reason.slice(0, 2000),
      since: new Date(now).toISOString(),
      until: new Date(now + this.o.quarantineCooldownMs).toISOString(),
    };
    this.o.logger.error(
      {
        actor: this.o.actorId,
        reason,
        cooldownMs: this.o.quarantineCooldownMs,
        until: this.quarantine.until,
      },
      'actor quarantined: restart intensity exceeded; will probe its runner after the cool-down',
    );
    this.o.metrics.actorQuarantined(this.o.actorId, now + this.o.quarantineCooldownMs);
    await this.runner?.kill();
    this.o.onState('QUARANTINED');
    this.probeTimer = setTimeout(() => void this.probe(), this.o.quarantineCooldownMs);
  }

  /** After the cool-down: start a runner and wait for ready; on success the actor leaves quarantine. */
  private async probe(): Promise<void> {
    if (this.stopped || !this.quarantine) return;
    this.o.logger.info({ actor: this.o.actorId }, 'quarantine cool-down over; probing the runner');
    try {
      await this.startRunner();
    } catch (e) {
      if (this.stopped) return;
      this.o.metrics.quarantineProbe(this.o.actorId, 'failed');
      const reason = `probe after the cool-down failed: runner failed to boot: ${(e as Error).message}`;
      this.quarantine = undefined;
      await this.enterQuarantine(reason);
      return;
    }
    if (this.stopped) {
      await this.runner?.kill();
      return;
    }
    this.o.metrics.quarantineProbe(this.o.actorId, 'recovered');
    this.o.logger.warn(
      { actor: this.o.actorId, quarantinedSince: this.quarantine.since },
      'actor recovered from quarantine: its runner is ready',
    );
    this.quarantine = undefined;
    this.consecutiveFailures = 0;
    this.o.onRecovered();
    this.o.onState('READY');
  }

  private async startRunner(): Promise<void> {
    const runner = await RunnerProcess.start(this.o.runner);
    runner.onExit((code, signal) => {
      // Deaths during an attempt are handled by the processor (also of one a lease handed over and not yet
      // claimed: its processing sees the exit); here only an idle runner's.
      if (
        this.runner !== runner ||
        this.o.isBusy() ||
        runner.diedRunning ||
        this.stopped ||
        this.quarantine ||
        this.recovering
      )
        return;
      this.o.logger.warn({ actor: this.o.actorId, code, signal }, 'idle runner exited');
      void this.lost(`idle runner exited (code ${code}, signal ${signal})`, 'actor');
    });
    this.runner = runner;
    this.o.onRunnerReady(runner.tasks);
  }
}
