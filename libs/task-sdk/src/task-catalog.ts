import type { TaskManifest } from '#libs/contracts';
import type { TaskDefinition } from './define-task.js';

/** Thrown at boot when two definitions share a name and version (the planner could not tell them apart). */
export class DuplicateTaskError extends Error {
  readonly code = 'DUPLICATE_TASK';
  constructor(readonly task: string) {
    super(`task ${task} is defined twice; each name+version must be unique`);
    this.name = 'DuplicateTaskError';
  }
}

/** The tasks one worker offers, keyed by name and exact version. */
export class TaskCatalog {
  private readonly byKey = new Map<string, TaskDefinition>();

  constructor(defs: readonly TaskDefinition[]) {
    for (const def of defs) {
      const key = catalogKey(def.name, def.version);
      if (this.byKey.has(key)) throw new DuplicateTaskError(key);
      this.byKey.set(key, def);
    }
  }

  get(name: string, version: string): TaskDefinition | undefined {
    return this.byKey.get(catalogKey(name, version));
  }

  has(name: string, version: string): boolean {
    return this.byKey.has(catalogKey(name, version));
  }

  list(): TaskDefinition[] {
    return [...this.byKey.values()];
  }

  /** Manifests sorted by name then version, so the advertised list is stable. */
  manifests(): TaskManifest[] {
    return this.list()
      .map((d) => d.manifest())
      .sort((a, b) =>
        a.name === b.name ? a.version.localeCompare(b.version) : a.name.localeCompare(b.name),
      );
  }
}

const catalogKey = (name: string, version: string): string => `${name}@${version}`;
