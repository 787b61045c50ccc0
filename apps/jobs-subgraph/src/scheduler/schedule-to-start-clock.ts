import type { ReconcilerConfig } from './reconciler-config.js';

/** Each task some live worker offers now, with whether every actor that could run it is busy (a backlog). */
export type Offered = ReadonlyMap<string, { backlog: boolean }>;

/**
 * When an offered task's attempt could first have been started, for schedule-to-start: not before the last pass
 * that saw every actor able to run it busy, nor before this leader's first pass. Pure: the reconciler feeds it
 * each pass's start and offered tasks.
 */
export class ScheduleToStartClock {
  /**
   * Per task, the last pass that saw every actor able to run it busy: schedule-to-start counts from no earlier
   * (entries too old to matter are dropped).
   */
  private backlogSeenAt = new Map<string, number>();
  /**
   * This leader's first pass (null until it runs): what happened before is unknown, maybe a backlog, so
   * schedule-to-start of an offered task counts from no earlier (conservative: a new leader fails nothing
   * UNSCHEDULABLE for one scheduleToStartMs).
   */
  private leaderSince: number | null = null;

  constructor(private readonly config: Pick<ReconcilerConfig, 'scheduleToStartMs'>) {}

  /** This replica was elected leader: its next pass starts watching for backlogs afresh. */
  leaderElected(): void {
    this.leaderSince = null;
  }

  /** Notes the pass's start (`at`) for every task in a backlog now, and this leader's first pass. */
  beginPass(at: number, offered: Offered): void {
    this.leaderSince ??= at;
    for (const [task, { backlog }] of offered) if (backlog) this.backlogSeenAt.set(task, at);
    // older than schedule-to-start, a backlog can no longer hold back any verdict
    for (const [task, seen] of this.backlogSeenAt)
      if (at - seen > this.config.scheduleToStartMs) this.backlogSeenAt.delete(task);
  }

  /** When an offered task's attempt, placed in its queue at `placedAt`, could first have been started. */
  startableSince(task: string, placedAt: number): number {
    return Math.max(placedAt, this.backlogSeenAt.get(task) ?? 0, this.leaderSince ?? 0);
  }
}
