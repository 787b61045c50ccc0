import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** mkdir's mode is masked by the umask: a usual one (022) leaves 0711 whole, so no chmod is needed. */
const UMASK_KEEPS_0711 = (process.umask() & 0o711) === 0;

/**
 * An attempt's scratch directory, made on first use: most attempts (a no-op, a pure computation) never
 * touch it, and making and removing a directory per attempt was a measurable share of the worker's CPU.
 * Traverse-only for other users (0711, like its two parents: the actor's folder and the work root), so a
 * task running as another uid cannot list other attempts'. Whoever may touch it first (the task through
 * `ctx.workDir`, the runner's or the actor's artifact code) calls `ensure()`; `made` says whether it did.
 */
export class ScratchDir {
  private madeHere = false;

  constructor(readonly path: string) {}

  /** This object made (or found, left by a crash) the directory: it must be removed after the attempt. */
  get made(): boolean {
    return this.madeHere;
  }

  /** The directory exists (0711) after this; returns its path. */
  ensure(): string {
    if (!this.madeHere) {
      makeScratchDirSync(this.path);
      this.madeHere = true;
    }
    return this.path;
  }
}

/** The dir, 0711; its parents too when they were missing (made 0711 in the same way). */
function makeScratchDirSync(workDir: string): void {
  try {
    mkdirSync(workDir, { mode: 0o711 });
    if (!UMASK_KEEPS_0711) chmodQuietly(workDir);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return chmodQuietly(workDir); // left by a crash
    if (code !== 'ENOENT') throw e;
  }
  mkdirSync(workDir, { recursive: true });
  const actorDir = dirname(workDir);
  for (const d of [dirname(actorDir), actorDir, workDir]) chmodQuietly(d);
}

function chmodQuietly(dir: string): void {
  try {
    chmodSync(dir, 0o711);
  } catch {
    // not ours to change (e.g. a work root owned by someone else): traversal is all we need
  }
}
