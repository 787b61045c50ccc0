import type { ResourceClass } from '#libs/contracts';

export interface LeaseSizerOptions {
  /** Most attempts in one lease; 1 turns leases off. */
  max: number;
  /** How long the attempts of one lease should take to run together (ms). */
  targetMs: number;
  /** Weight of the newest sample in the running average (0..1]. */
  weight?: number;
}

/**
 * How many attempts a lease of a class may carry, from how long its attempts ran lately (decision 0007): a lease
 * should take about `targetMs`, so tasks of a few ms go in leases of many and a task longer than the target
 * goes alone, exactly as without leases (a newcomer tenant then waits behind one attempt per slot, as before).
 * Nothing observed yet: 1. A running average per class on this replica; replicas each see their share.
 */
export class LeaseSizer {
  private readonly averageMs = new Map<ResourceClass, number>();
  private readonly weight: number;

  constructor(private readonly opts: LeaseSizerOptions) {
    this.weight = opts.weight ?? 0.2;
  }

  /** An attempt of the class ran this long on its runner. */
  observe(rc: ResourceClass, ranMs: number): void {
    if (!(ranMs >= 0)) return;
    const before = this.averageMs.get(rc);
    this.averageMs.set(rc, before === undefined ? ranMs : before + this.weight * (ranMs - before));
  }

  size(rc: ResourceClass): number {
    const average = this.averageMs.get(rc);
    if (this.opts.max <= 1 || average === undefined) return 1;
    return Math.max(1, Math.min(this.opts.max, Math.floor(this.opts.targetMs / Math.max(average, 1))));
  }
}
