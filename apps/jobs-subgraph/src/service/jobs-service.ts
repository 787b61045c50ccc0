import { SubmitJobInput, type GraphError, type WorkerManifest } from '#libs/contracts';
import { planJob, type PlannedJob, type PlannerLimits } from '../planner/planner.js';
import type { TaskCapability } from '../registry/capability-catalog.js';
import type { CachedCatalog, WorkerRegistry } from '../registry/worker-registry.js';
import type { TemplateRegistry, TemplateSummary } from '../templates/template-registry.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { JobView } from '../scheduler/job-record.js';
import type { JobReadView } from '../scheduler/job-views.js';
import type { JobListFilter, JobPage } from '../scheduler/job-store.js';
import type { EventSubscriptions } from '../events/job-events.js';
import type { StreamFollower } from '../events/stream-follower.js';
import { decodeEventCursor, InvalidEventCursorError } from '../events/event-cursor.js';
import { DomainError, notFound, parseUserInput } from '#libs/errors';
import { invalidGraph } from './jobs-errors.js';
import { QuotaExceededError, type QuotaName } from '../scheduler/tenant-quotas.js';
import { assertJsonDepth, checkLabels, DEFAULT_LABEL_LIMITS, type LabelLimits } from './submission-limits.js';
import { submitBatch, type BatchItemOutcome } from './batch-submit.js';

export interface GraphValidation {
  valid: boolean;
  errors: GraphError[];
}

/** Default cap on `jobs(first:)` (JOBS_PAGE_MAX). */
export const MAX_PAGE_SIZE = 100;
/** Longest `jobs(filter: { template })` accepted (as SubmitJobInput.template). */
const MAX_TEMPLATE_NAME = 128;

export interface JobsServiceOptions {
  planner?: Partial<PlannerLimits>;
  labels?: LabelLimits;
  /** Largest `first` of a `jobs` page. */
  maxPageSize?: number;
  /** Called once per request a quota refused (the app counts it in switchyard_quota_refusals_total). */
  onQuotaRefused?: (quota: QuotaName) => void;
}

/**
 * The jobs subgraph's use cases, scoped to one tenant each. Transport-free: the GraphQL resolvers call these
 * with the verified identity's tenant; another tenant's job answers exactly like a missing one.
 */
export class JobsService {
  constructor(
    private readonly scheduler: Scheduler,
    private readonly registry: WorkerRegistry,
    private readonly templateRegistry: TemplateRegistry,
    private readonly subscriptions: EventSubscriptions,
    private readonly options: JobsServiceOptions = {},
  ) {}

  /**
   * Plans without side effects, and answers what submitJob would: a graph the planner refuses is invalid; a valid
   * one of a tenant at or over an artifact quota is QUOTA_EXCEEDED (its job quotas are not read: they change with
   * every job that ends). Without a tenant (tools, tests of the planner), planning only.
   */
  async validateGraph(rawInput: unknown, tenant?: string): Promise<GraphValidation> {
    const result = await this.quotaChecked(async () => {
      const planned = await this.plan(rawInput);
      if (planned.ok && tenant !== undefined) await this.scheduler.checkArtifactQuotas(tenant);
      return planned;
    });
    return result.ok ? { valid: true, errors: [] } : { valid: false, errors: result.errors };
  }

  /** Plans and writes a job; QUOTA_EXCEEDED (nothing written) when it would pass one of the tenant's quotas. */
  async submitJob(tenant: string, rawInput: unknown): Promise<JobView> {
    const { jobId, view } = await this.quotaChecked(async () => {
      const result = await this.plan(rawInput);
      if (!result.ok) throw invalidGraph(result.errors);
      return this.scheduler.submit(tenant, result.input, result.plan);
    });
    // a new job was read once by submit (its roots were enqueued from that read); a repeat reads the existing one
    return view ?? this.requireJob(tenant, jobId);
  }

  /**
   * submitJobs: each input planned, quota-checked and idempotent on its own, as submitJob does it; outcomes
   * per input, in order (batch-submit.ts). The capability catalog is read once for the batch.
   */
  async submitJobs(tenant: string, rawInputs: readonly unknown[]): Promise<BatchItemOutcome[]> {
    let catalog: Promise<CachedCatalog> | undefined;
    return submitBatch(
      {
        submitOne: (raw) =>
          this.quotaChecked(async () => {
            const result = await this.plan(raw, (catalog ??= this.registry.cachedCatalog()));
            if (!result.ok) throw invalidGraph(result.errors);
            return this.scheduler.submit(tenant, result.input, result.plan);
          }),
        views: (ids) => this.scheduler.store.readViews(ids, tenant),
      },
      rawInputs,
    );
  }

  job(tenant: string, jobId: string): Promise<JobView | null> {
    return this.scheduler.store.view(jobId, tenant);
  }

  /**
   * The tenant's jobs as the API shows them (null where missing), in one round trip whatever the count
   * (`job`, `_entities`).
   */
  jobsByIds(tenant: string, jobIds: readonly string[]): Promise<Array<JobReadView | null>> {
    return this.scheduler.store.readViews(jobIds, tenant);
  }

  /** A page of the tenant's jobs: `first` defaults to 20 (or the cap, when that is lower). */
  async jobs(tenant: string, filter: JobListFilter, requested?: number, after?: string): Promise<JobPage> {
    const maxPage = this.options.maxPageSize ?? MAX_PAGE_SIZE;
    const first = requested ?? Math.min(20, maxPage);
    if (!Number.isInteger(first) || first < 0 || first > maxPage)
      throw new DomainError('BAD_USER_INPUT', `first must be between 0 and ${maxPage}`, { max: maxPage });
    if (filter.template !== undefined && filter.template.length > MAX_TEMPLATE_NAME)
      throw new DomainError('BAD_USER_INPUT', `a template name has at most ${MAX_TEMPLATE_NAME} characters`);
    return this.scheduler.store.list(tenant, filter, first, after ?? undefined);
  }

  async cancelJob(tenant: string, jobId: string): Promise<JobView> {
    await this.requireJob(tenant, jobId);
    await this.scheduler.cancel(jobId, 'cancelled by request');
    return this.requireJob(tenant, jobId);
  }

  async retryJob(tenant: string, jobId: string): Promise<JobView> {
    await this.requireJob(tenant, jobId);
    const r = await this.quotaChecked(() => this.scheduler.retry(jobId, tenant));
    if (r.outcome === 'conflict')
      throw new DomainError(
        'CONFLICT',
        `job ${jobId} is ${r.status}: only a FAILED or CANCELLED job can be retried`,
      );
    return this.requireJob(tenant, jobId);
  }

  async capabilities(): Promise<TaskCapability[]> {
    return (await this.registry.catalog()).capabilities();
  }

  templates(): TemplateSummary[] {
    return this.templateRegistry.list();
  }

  workers(): Promise<WorkerManifest[]> {
    return this.registry.liveWorkers();
  }

  /** Every event of the tenant's job after `after` (a cursor), live until the job finishes. */
  async jobEvents(tenant: string, jobId: string, after?: string | null): Promise<StreamFollower> {
    const { job } = await this.requireJob(tenant, jobId);
    const afterSeq = after ? decodeEventCursor(after, jobId) : 0;
    if (afterSeq > job.seq)
      throw new InvalidEventCursorError(`cursor "${after}" is past the job's last event`);
    return this.subscriptions.jobEvents(jobId, afterSeq, tenant);
  }

  /** The tenant's feed from now on, or right after the event whose `feedCursor` is `after`. */
  jobFeed(tenant: string, after?: string | null): Promise<StreamFollower> {
    return this.subscriptions.jobFeed(tenant, after);
  }

  /** Where the tenant's feed stands now, as a feedCursor (see EventLog.feedHead). */
  jobFeedHead(tenant: string): Promise<string> {
    return this.subscriptions.jobFeedHead(tenant);
  }

  async requireJob(tenant: string, jobId: string): Promise<JobView> {
    const view = await this.scheduler.store.view(jobId, tenant);
    if (!view) throw notFound('job', jobId);
    return view;
  }

  /** Counts each quota refusal (the error already carries QUOTA_EXCEEDED and passes on unchanged). */
  private async quotaChecked<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (e) {
      if (e instanceof QuotaExceededError) this.options.onQuotaRefused?.(e.quota);
      throw e;
    }
  }

  /** Bounds first (nesting, labels), then the contract schema, then the planner (which counts labels in its size). */
  private async plan(
    rawInput: unknown,
    /** submitJobs reads it once for all of its inputs. */
    sharedCatalog?: Promise<CachedCatalog>,
  ): Promise<{ ok: true; input: SubmitJobInput; plan: PlannedJob } | { ok: false; errors: GraphError[] }> {
    assertJsonDepth(rawInput, 'the submission');
    checkLabels(
      (rawInput as { labels?: unknown } | null)?.labels,
      this.options.labels ?? DEFAULT_LABEL_LIMITS,
    );
    const input = parseUserInput(SubmitJobInput, 'SubmitJobInput', stripNulls(rawInput));
    const startedAt = Date.now();
    const cached = await (sharedCatalog ?? this.registry.cachedCatalog());
    let result = planJob(input, cached.catalog, this.templateRegistry, this.options.planner);
    // refused against a catalog read before this call: a worker may have come or changed since, so ask again,
    // and plan again only if it did (the same tasks refuse the same way: no second plan for a hostile caller)
    if (!result.ok && cached.readAt < startedAt) {
      const fresh = (await this.registry.freshCatalog()).catalog;
      if (!fresh.plansLike(cached.catalog))
        result = planJob(input, fresh, this.templateRegistry, this.options.planner);
    }
    return result.ok ? { ok: true, input, plan: result.plan } : result;
  }
}

/**
 * GraphQL sends absent optional arguments as null; the contracts treat them as absent. Only the fields of the
 * input and of each node are cleaned: inside JSON values (inputs, params, labels) a null is data.
 */
function stripNulls(value: unknown): unknown {
  const clean = (o: unknown): unknown =>
    o && typeof o === 'object' && !Array.isArray(o)
      ? Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined))
      : o;
  const input = clean(value) as { graph?: { nodes?: unknown } } | undefined;
  if (input?.graph && typeof input.graph === 'object' && Array.isArray(input.graph.nodes)) {
    return { ...input, graph: { ...input.graph, nodes: input.graph.nodes.map(clean) } };
  }
  return input;
}
