import semver from 'semver';
import {
  PROTOCOL_VERSION,
  actorTakesWork,
  resourceClassOf,
  workerTakesWork,
  schemaHash,
  type JsonSchema,
  type ResourceClass,
  type Resources,
  type TaskManifest,
  type WorkerManifest,
} from '#libs/contracts';

export interface LiveWorker {
  manifest: WorkerManifest;
}

/** One row of the public `capabilities` query (contract type TaskCapability). */
export interface TaskCapability {
  name: string;
  /** Versions some live worker can run now, newest first. */
  versions: string[];
  description?: string;
  /** Schemas and resources of the version `resolve(name)` picks (newest release). */
  inputSchema: JsonSchema;
  outputSchema: JsonSchema;
  resources: Resources;
  /** Live workers that offer the task (any version). */
  workers: number;
}

/** Why a worker's task was left out of the catalog (the registry logs these). */
export interface CatalogProblem {
  workerId: string;
  task?: string;
  version?: string;
  reason: string;
}

/** How busy the actors that could run a task are, from the live workers' manifests. */
export interface TaskLoad {
  /**
   * Every such actor is taken: none is IDLE and at least one is BUSY (the others RESTARTING). Work for the task
   * waits behind running work, not for a worker that will never come. No BUSY actor (all RESTARTING, say) is not
   * a backlog: nothing the task waits for is running.
   */
  backlog: boolean;
}

interface OfferedVersion {
  manifest: TaskManifest;
  workerIds: Set<string>;
}

const protocolMajor = (v: string): string => v.split('.')[0] ?? '';

/** Most (task, range) answers one catalog remembers. */
const MAX_RESOLVED = 1000;

/**
 * What the live workers can run right now, built from their manifests (pure; no I/O).
 * Only workers that take work at all (`workerTakesWork`: running, not starting or draining; not `ready`,
 * which a quarantined actor clears) and speak our protocol's major version count, and of those only the
 * tasks of a resource class the worker has an actor for that can take work (IDLE, BUSY or RESTARTING:
 * `actorTakesWork`): a worker with one quarantined GPU of eight offers its GPU tasks on the seven others,
 * one whose GPUs are all quarantined offers only its CPU tasks. Offering what no actor can take would only
 * produce UNSCHEDULABLE later.
 * A task version whose schemaHash does not match its schemas is refused, because validators are
 * cached by that hash; two workers offering the same version with different schemas is a conflict,
 * resolved in favour of the first seen and reported.
 */
export class CapabilityCatalog {
  readonly problems: CatalogProblem[] = [];
  private readonly tasks = new Map<string, Map<string, OfferedVersion>>();
  private readonly offeringWorkers = new Map<string, Set<string>>();
  /** Each accepted task version with its worker and the actors' class that runs it (for loads()). */
  private readonly offers: Array<{ task: string; worker: WorkerManifest; resourceClass: ResourceClass }> = [];
  /** resolve()'s answers: the catalog does not change once built, and semver ranges are costly to parse. */
  private readonly resolved = new Map<string, TaskManifest | null>();
  private offeredKey?: string;

  constructor(workers: WorkerManifest[]) {
    for (const worker of workers) this.add(worker);
  }

  /** Newest live version satisfying `range` (a semver range; undefined = newest), or null. */
  resolve(task: string, range?: string): TaskManifest | null {
    const key = `${task}\n${range ?? ''}`;
    const known = this.resolved.get(key);
    if (known !== undefined) return known;
    const manifest = this.resolveUncached(task, range);
    // bounded: ranges come from clients
    if (this.resolved.size < MAX_RESOLVED) this.resolved.set(key, manifest);
    return manifest;
  }

  private resolveUncached(task: string, range?: string): TaskManifest | null {
    const versions = this.tasks.get(task);
    if (!versions || versions.size === 0) return null;
    const available = [...versions.keys()];
    let chosen: string | null;
    if (range === undefined || range.trim() === '') {
      // Newest release; fall back to the newest prerelease only when nothing else is live.
      chosen = semver.maxSatisfying(available, '*') ?? semver.rsort([...available])[0] ?? null;
    } else {
      if (semver.validRange(range) === null) return null;
      chosen = semver.maxSatisfying(available, range);
    }
    return chosen === null ? null : versions.get(chosen)!.manifest;
  }

  /**
   * Whether planning against `other` answers as planning against this catalog does: the same task versions
   * with the same manifests (which workers offer them does not matter to a plan). Lets a refused plan skip a
   * second, identical run against a catalog read again (JobsService).
   */
  plansLike(other: CapabilityCatalog): boolean {
    return other === this || other.plannedKey() === this.plannedKey();
  }

  /** Every offered task version and its manifest, schemas by their hash (checked against them in add). */
  private plannedKey(): string {
    this.offeredKey ??= JSON.stringify(
      [...this.tasks]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, versions]) => [
          name,
          [...versions]
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([, { manifest }]) => ({ ...manifest, inputSchema: undefined, outputSchema: undefined })),
        ]),
    );
    return this.offeredKey;
  }

  has(task: string): boolean {
    return this.tasks.has(task);
  }

  /** Live versions of `task`, newest first. */
  versions(task: string): string[] {
    const versions = this.tasks.get(task);
    return versions ? semver.rsort([...versions.keys()]) : [];
  }

  /** Names of every task some live worker offers, sorted. */
  taskNames(): string[] {
    return [...this.tasks.keys()].sort();
  }

  /**
   * Per offered task, how busy the actors of its resource class are on the workers offering it (any version).
   * Built on demand: the planner never asks. A QUARANTINED or STOPPED actor is neither free nor busy: beside
   * BUSY ones of its class it leaves a backlog (and a class with no other actor is not offered).
   */
  loads(): Map<string, TaskLoad> {
    const seen = new Map<string, { idle: boolean; busy: boolean }>();
    for (const { task, worker, resourceClass } of this.offers) {
      let s = seen.get(task);
      if (!s) seen.set(task, (s = { idle: false, busy: false }));
      for (const actor of worker.actors) {
        if (actor.resourceClass !== resourceClass) continue;
        if (actor.state === 'IDLE') s.idle = true;
        else if (actor.state === 'BUSY') s.busy = true;
      }
    }
    return new Map([...seen].map(([task, s]) => [task, { backlog: s.busy && !s.idle }]));
  }

  capabilities(): TaskCapability[] {
    return this.taskNames().map((name) => {
      const versions = this.versions(name);
      // Described by the version a node without a range would get.
      const newest = this.resolve(name)!;
      return {
        name,
        versions,
        ...(newest.description !== undefined ? { description: newest.description } : {}),
        inputSchema: newest.inputSchema,
        outputSchema: newest.outputSchema,
        resources: newest.resources,
        workers: this.offeringWorkers.get(name)?.size ?? 0,
      };
    });
  }

  private add(worker: WorkerManifest): void {
    if (!workerTakesWork(worker)) return;
    if (protocolMajor(worker.protocolVersion) !== protocolMajor(PROTOCOL_VERSION)) {
      this.problems.push({
        workerId: worker.id,
        reason: `protocol ${worker.protocolVersion} is not compatible with ${PROTOCOL_VERSION}`,
      });
      return;
    }
    // Not a problem of the manifest: a quarantined actor is the worker's to report (its state, metric, alert).
    const serving = new Set(worker.actors.filter((a) => actorTakesWork(a.state)).map((a) => a.resourceClass));
    for (const task of worker.tasks) {
      if (!serving.has(resourceClassOf(task.resources))) continue;
      if (schemaHash(task.inputSchema, task.outputSchema) !== task.schemaHash) {
        this.problems.push({
          workerId: worker.id,
          task: task.name,
          version: task.version,
          reason: 'schemaHash does not match the declared schemas',
        });
        continue;
      }
      let versions = this.tasks.get(task.name);
      if (!versions) this.tasks.set(task.name, (versions = new Map()));
      const offered = versions.get(task.version);
      if (offered && offered.manifest.schemaHash !== task.schemaHash) {
        this.problems.push({
          workerId: worker.id,
          task: task.name,
          version: task.version,
          reason: `schemas differ from another worker's ${task.name}@${task.version}; that one is used`,
        });
        continue;
      }
      if (offered) offered.workerIds.add(worker.id);
      else versions.set(task.version, { manifest: task, workerIds: new Set([worker.id]) });
      this.offers.push({ task: task.name, worker, resourceClass: resourceClassOf(task.resources) });
      let offering = this.offeringWorkers.get(task.name);
      if (!offering) this.offeringWorkers.set(task.name, (offering = new Set()));
      offering.add(worker.id);
    }
  }
}
