import type { Redis } from 'ioredis';
import {
  REDIS_KEYS,
  jobArtifactOrderPlace,
  type ArtifactListPosition,
  type ArtifactRecord,
} from '#libs/contracts';
import { defineScripts } from '#libs/redis';
import { decodeArtifactRecord, MetadataUnavailableError } from '#libs/storage';

export const ARTIFACT_READ_SCRIPTS = defineScripts({
  label: 'artifact reads',
  dir: new URL('./lua/', import.meta.url),
  names: ['artifactsOfJobs'] as const,
});

/** One page of one job's committed artifacts: `limit` of them after `after` (from the start when absent). */
export interface JobArtifactsRequest {
  jobId: string;
  limit: number;
  after?: ArtifactListPosition;
}

export interface JobArtifactsPage {
  records: ArtifactRecord[];
  /** Another visible artifact follows the page. */
  hasMore: boolean;
}

/**
 * Pages of the committed artifacts of many jobs, the caller's tenant only, in one round trip whatever the count
 * (`artifactsOfJobs-n.lua`), each in commit order (ArtifactListPosition). Each page is a seek in the job's
 * order index (REDIS_KEYS.jobArtifactOrder) and only the pages' records leave Redis and are parsed
 * (ArtifactRecord), so a job with thousands of outputs costs Redis and this process about `limit` records. Redis
 * failures are MetadataUnavailableError (UNAVAILABLE).
 */
export class JobArtifactsReader {
  constructor(private readonly redis: Redis) {}

  async pages(requests: readonly JobArtifactsRequest[], tenant: string): Promise<JobArtifactsPage[]> {
    if (requests.length === 0) return [];
    const args = [tenant, REDIS_KEYS.artifact('')];
    for (const r of requests) args.push(String(r.limit), r.after ? jobArtifactOrderPlace(r.after) : '');
    let rows: Array<[number, ...string[][]]>;
    try {
      rows = (await ARTIFACT_READ_SCRIPTS.run(
        this.redis,
        'artifactsOfJobs',
        requests.flatMap((r) => [REDIS_KEYS.jobArtifacts(r.jobId), REDIS_KEYS.jobArtifactOrder(r.jobId)]),
        args,
      )) as Array<[number, ...string[][]]>;
    } catch (e) {
      throw new MetadataUnavailableError('artifactsOfJobs', e);
    }
    return rows.map(([more, ...flats]) => ({
      records: flats.map((flat) => decodeArtifactRecord(hashOf(flat))!),
      hasMore: more === 1,
    }));
  }
}

/** HGETALL's reply as Lua returns it (field, value, field, value…) as an object. */
function hashOf(flat: readonly string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!;
  return hash;
}
