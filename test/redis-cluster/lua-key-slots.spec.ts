import { BULLMQ_PREFIX, REDIS_KEYS, REDIS_PREFIX, ResourceClass } from '#libs/contracts';
import { hashSlot, LEASE_SCRIPTS, type ScriptSet } from '#libs/redis';
import {
  RATE_LIMIT_SCRIPTS,
  rateLimitKey,
  API_KEY_INDEX,
  SUBSCRIPTION_SLOT_SCRIPTS,
  subscriptionSlotsKey,
} from '#libs/auth';
import { STORAGE_KEYS, STORAGE_SCRIPTS, tenantSweepIndexKeys } from '../../libs/storage/src/index.js';
import { JOB_KEYS, transitionKeys } from '../../apps/jobs-subgraph/src/scheduler/keys.js';
import { FAIR_KEYS } from '../../apps/jobs-subgraph/src/scheduler/fair-queue.js';
import { SCHEDULER_SCRIPTS } from '../../apps/jobs-subgraph/src/scheduler/scripts.js';
import { JOB_VIEW_SCRIPTS } from '../../apps/jobs-subgraph/src/scheduler/job-views.js';
import { WORKER_REGISTRY_SCRIPTS } from '../../apps/jobs-subgraph/src/registry/worker-registry.js';
import { SWEEP_LEASE_KEY } from '../../apps/artifacts-subgraph/src/sweeps/sweep-loop.js';

/**
 * Redis Cluster runs a Lua script only when every key it is given hashes to one slot. For each script, the keys
 * its caller passes are built here with the same key builders and sample ids (a tenant, a job, an artifact...);
 * a script without a case here fails the test, so a new script has to say which keys it takes.
 */
const jobId = '6f1c2a4e-0b9d-4d39-9c3b-1a7e5f2d8c10';
const tenant = 'tenant-a';
const rc: ResourceClass = 'gpu';
const fair = () => [
  FAIR_KEYS.held(rc),
  FAIR_KEYS.ring(rc),
  FAIR_KEYS.delayed(rc),
  FAIR_KEYS.dispatched(rc),
  FAIR_KEYS.capacity(rc),
];
const artifact = 'a1b2c3';

const CASES: Array<[ScriptSet<string>, Record<string, () => string[]>]> = [
  [
    SCHEDULER_SCRIPTS,
    {
      submitJob: () => [
        ...transitionKeys(jobId),
        JOB_KEYS.idempotency(tenant, 'client-key'),
        JOB_KEYS.tenantJobs(tenant),
        JOB_KEYS.outputSchemas,
        REDIS_KEYS.tenantStoredBytes(tenant),
        REDIS_KEYS.tenantArtifacts(tenant),
      ],
      startAttempt: () => transitionKeys(jobId),
      recordProgress: () => transitionKeys(jobId),
      appendLog: () => transitionKeys(jobId),
      completeAttempt: () => [
        ...transitionKeys(jobId),
        REDIS_KEYS.jobArtifacts(jobId),
        REDIS_KEYS.uncommittedArtifacts,
        REDIS_KEYS.attemptArtifacts(jobId, 'train', 2),
        REDIS_KEYS.jobArtifactOrder(jobId),
        REDIS_KEYS.uncommittedArtifactTenants,
      ],
      failAttempt: () => transitionKeys(jobId),
      releaseAttempt: () => transitionKeys(jobId),
      cancelJob: () => transitionKeys(jobId),
      failJob: () => transitionKeys(jobId),
      retryJob: () => [
        ...transitionKeys(jobId),
        REDIS_KEYS.tenantStoredBytes(tenant),
        REDIS_KEYS.tenantArtifacts(tenant),
      ],
      purgeJob: () => [...transitionKeys(jobId), JOB_KEYS.tenantJobs(tenant), JOB_KEYS.noIdempotencyKey],
      recountTenantUsage: () => [
        JOB_KEYS.tenantUsage(tenant),
        JOB_KEYS.tenantJobsByStatus(tenant, 'QUEUED'),
        JOB_KEYS.tenantJobsByStatus(tenant, 'RUNNING'),
      ],
      fairEnqueue: fair,
      fairDispatch: fair,
      fairRelease: fair,
      fairRemove: fair,
      fairTakeBack: fair,
    },
  ],
  [
    STORAGE_SCRIPTS,
    {
      deleteArtifact: () => [
        REDIS_KEYS.artifact(artifact),
        REDIS_KEYS.uncommittedArtifacts,
        STORAGE_KEYS.artifactsByCreatedAt,
        STORAGE_KEYS.objectsToDelete,
        REDIS_KEYS.jobArtifacts(jobId),
        REDIS_KEYS.attemptArtifacts(jobId, 'train', 1),
        STORAGE_KEYS.removeAfter,
        STORAGE_KEYS.tenantStoredBytes(tenant),
        STORAGE_KEYS.tenantArtifacts(tenant),
        REDIS_KEYS.expiredArtifact(artifact),
        REDIS_KEYS.jobArtifactOrder(jobId),
        ...tenantSweepIndexKeys(tenant),
      ],
      reserveUpload: () => [
        REDIS_KEYS.artifact(artifact),
        ...tenantSweepIndexKeys(tenant),
        STORAGE_KEYS.tenantStoredBytes(tenant),
        STORAGE_KEYS.tenantArtifacts(tenant),
      ],
      commitUpload: () => [
        REDIS_KEYS.artifact(artifact),
        REDIS_KEYS.uncommittedArtifacts,
        STORAGE_KEYS.tenantUncommittedArtifacts(tenant),
        STORAGE_KEYS.uncommittedArtifactTenants,
        STORAGE_KEYS.removeAfter,
        STORAGE_KEYS.tenantStoredBytes(tenant),
      ],
      claimDueRemovals: () => [STORAGE_KEYS.removeAfter, STORAGE_KEYS.objectsToDelete],
      stageArtifact: () => [
        REDIS_KEYS.artifact(artifact),
        REDIS_KEYS.attemptArtifacts(jobId, 'train', 1),
        ...tenantSweepIndexKeys(tenant),
        STORAGE_KEYS.tenantStoredBytes(tenant),
        STORAGE_KEYS.tenantArtifacts(tenant),
        STORAGE_KEYS.removeAfter,
      ],
      moveSweepEntry: () => [
        REDIS_KEYS.artifact(artifact),
        STORAGE_KEYS.artifactsByCreatedAt,
        STORAGE_KEYS.tenantArtifactsByCreatedAt(tenant),
        STORAGE_KEYS.createdArtifactTenants,
      ],
    },
  ],
  [
    JOB_VIEW_SCRIPTS,
    { readJobViews: () => [JOB_KEYS.job(jobId), JOB_KEYS.job('0b8e1f3c-2d4a-4e6b-9f1a-7c3d5e2b8a90')] },
  ],
  [RATE_LIMIT_SCRIPTS, { takeTokens: () => [rateLimitKey('key:k1')] }],
  [
    SUBSCRIPTION_SLOT_SCRIPTS,
    { acquireSlots: () => [subscriptionSlotsKey('k1')], refreshSlots: () => [subscriptionSlotsKey('k1')] },
  ],
  [
    WORKER_REGISTRY_SCRIPTS,
    { sremExpiredWorkers: () => [REDIS_KEYS.workers, REDIS_KEYS.worker('w1'), REDIS_KEYS.worker('w2')] },
  ],
  [
    LEASE_SCRIPTS,
    {
      leaseRenew: () => [JOB_KEYS.leader], // the sweep lease (SWEEP_LEASE_KEY) is checked below
      leaseRelease: () => [SWEEP_LEASE_KEY],
    },
  ],
];

const SY_SLOT = hashSlot(`${REDIS_PREFIX}:x`);

describe('Lua script keys and Redis Cluster slots', () => {
  it.each(CASES.map(([set, cases]) => [set.label, set, cases] as const))(
    '%s scripts: every key a script is given is in the one Switchyard slot',
    (_label, set, cases) => {
      expect(Object.keys(cases).sort()).toEqual([...set.names].sort());
      for (const name of set.names) {
        const keys = cases[name]!();
        const { numberOfKeys } = set.get(name);
        if (numberOfKeys !== null) expect([name, keys.length]).toEqual([name, numberOfKeys]);
        expect([name, [...new Set(keys.map(hashSlot))]]).toEqual([name, [SY_SLOT]]);
      }
    },
  );

  it('every key builder, whatever the ids, is in that slot (keys scripts derive from ARGV prefixes too)', () => {
    const ids = ['', 'x', '{evil}', 'a:b', 'ünï', '}{'];
    const builders: Record<string, unknown>[] = [REDIS_KEYS, JOB_KEYS, FAIR_KEYS, STORAGE_KEYS];
    for (const group of builders)
      for (const value of Object.values(group)) {
        if (typeof value === 'string') {
          if (value === REDIS_KEYS.reportsGroup) continue; // a consumer group's name, not a key
          expect([value, hashSlot(value)]).toEqual([value, SY_SLOT]);
        } else if (typeof value === 'function')
          for (const id of ids) {
            const key = (value as (...a: unknown[]) => string)(id, id, 1);
            expect([key, hashSlot(key)]).toEqual([key, SY_SLOT]);
          }
      }
    for (const key of [rateLimitKey('{evil}'), subscriptionSlotsKey('{x}'), API_KEY_INDEX, SWEEP_LEASE_KEY])
      expect([key, hashSlot(key)]).toEqual([key, SY_SLOT]);
  });

  it("BullMQ's keys carry their own hash tag, so its scripts run on Cluster too", () => {
    expect(BULLMQ_PREFIX).toMatch(/^\{[^{}]+\}$/);
    const queueKey = (suffix: string) => `${BULLMQ_PREFIX}:sy-nodes-gpu:${suffix}`;
    expect(new Set(['wait', 'active', 'job-1:lock', 'events'].map((s) => hashSlot(queueKey(s)))).size).toBe(
      1,
    );
  });
});
