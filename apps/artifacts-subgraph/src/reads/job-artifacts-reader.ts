import type { Redis } from 'ioredis';
import { REDIS_KEYS, type ArtifactRecord } from '#libs/contracts';
import { defineScripts } from '#libs/redis';
import { decodeArtifactRecord, MetadataUnavailableError } from '#libs/storage';

export const ARTIFACT_READ_SCRIPTS = defineScripts({
  label: 'artifact reads',
  dir: new URL('./lua/', import.meta.url),
  names: ['artifactsOfJobs'] as const,
});

/**
 * The committed artifacts of many jobs, the caller's tenant only, in one round trip whatever the count
 * (`artifactsOfJobs-n.lua`); each record parsed once (ArtifactRecord). Per job oldest first, then by name,
 * as ArtifactRepository.listForJob orders them. Redis failures are MetadataUnavailableError (UNAVAILABLE).
 */
export class JobArtifactsReader {
  constructor(private readonly redis: Redis) {}

  async forJobs(jobIds: readonly string[], tenant: string): Promise<ArtifactRecord[][]> {
    if (jobIds.length === 0) return [];
    let rows: string[][][];
    try {
      rows = (await ARTIFACT_READ_SCRIPTS.run(
        this.redis,
        'artifactsOfJobs',
        jobIds.map((id) => REDIS_KEYS.jobArtifacts(id)),
        [tenant, REDIS_KEYS.artifact('')],
      )) as string[][][];
    } catch (e) {
      throw new MetadataUnavailableError('artifactsOfJobs', e);
    }
    return rows.map((flats) =>
      flats
        .map((flat) => decodeArtifactRecord(hashOf(flat))!)
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name)),
    );
  }
}

/** HGETALL's reply as Lua returns it (field, value, field, value…) as an object. */
function hashOf(flat: readonly string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!;
  return hash;
}
