import type { Redis } from 'ioredis';
import { z } from 'zod';
import { IsoDateTime, parseContract, REDIS_KEYS, REDIS_PREFIX, Scope, Tenant } from '#libs/contracts';
import { generateApiKey, parseApiKey, secretMatchesHash } from './api-key.js';

/** Set of every API key id, so keys can be listed without SCAN. Owned by this store. */
export const API_KEY_INDEX = `${REDIS_PREFIX}:apikeys`;
/**
 * Pub/sub channel on which every revocation is announced (message: the key id), in the same MULTI as the
 * write, so gateways that cache verified keys (CachedApiKeyVerifier) drop a revoked key at once.
 */
export const API_KEY_REVOCATIONS_CHANNEL = `${REDIS_PREFIX}:apikeys:revoked`;
/** lastUsedAt is written at most this often per key, so a busy key does not cost a write per request. */
export const LAST_USED_WRITE_INTERVAL_MS = 60_000;

/** The stored record (Redis hash REDIS_KEYS.apiKey(id)); `scopes` is stored as JSON. */
export const ApiKeyRecord = z.object({
  id: z.string().min(1),
  tenant: Tenant,
  scopes: z.array(Scope).min(1),
  name: z.string().max(200),
  secretHash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: IsoDateTime,
  lastUsedAt: IsoDateTime.optional(),
  revokedAt: IsoDateTime.optional(),
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecord>;
export type ApiKeyInfo = Omit<ApiKeyRecord, 'secretHash'>;

export const CreateApiKeyInput = z.object({
  tenant: Tenant,
  scopes: z.array(Scope).min(1, 'at least one scope'),
  name: z.string().trim().max(200).optional(),
});
export type CreateApiKeyInput = z.infer<typeof CreateApiKeyInput>;

export type ApiKeyRejection = 'MALFORMED' | 'UNKNOWN' | 'BAD_SECRET' | 'REVOKED';

export class ApiKeyError extends Error {
  constructor(
    readonly reason: ApiKeyRejection,
    message: string,
  ) {
    super(message);
    this.name = 'ApiKeyError';
  }
}

export interface VerifiedApiKey {
  id: string;
  tenant: string;
  scopes: Scope[];
}

/**
 * API keys in Redis. `verify` reads the record every time (one HGETALL), so a revoked key stops working on
 * the next request; the gateway puts CachedApiKeyVerifier in front of it (revocations pushed over pub/sub).
 */
export class ApiKeyStore {
  constructor(
    private readonly redis: Redis,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Creates a key; the returned `key` is the only time the secret exists outside the caller. */
  async create(input: CreateApiKeyInput): Promise<{ key: string; record: ApiKeyInfo }> {
    const parsed = parseContract(CreateApiKeyInput, 'CreateApiKeyInput', input);
    const generated = generateApiKey();
    const record: ApiKeyRecord = {
      id: generated.id,
      tenant: parsed.tenant,
      scopes: [...new Set(parsed.scopes)],
      name: parsed.name ?? '',
      secretHash: generated.secretHash,
      createdAt: this.now().toISOString(),
    };
    await this.redis
      .multi()
      .hset(REDIS_KEYS.apiKey(record.id), toHash(record))
      .sadd(API_KEY_INDEX, record.id)
      .exec()
      .then(throwOnMultiError);
    const { secretHash: _hidden, ...info } = record;
    return { key: generated.key, record: info };
  }

  /** Resolves a presented key to its tenant and scopes, or throws ApiKeyError. */
  async verify(presented: string): Promise<VerifiedApiKey> {
    const parts = parseApiKey(presented);
    if (!parts) throw new ApiKeyError('MALFORMED', 'malformed API key');
    const record = await this.get(parts.id);
    const verified = checkApiKeyRecord(record, parts.secret);
    if (lastUsedIsDue(record!.lastUsedAt, this.now().getTime())) await this.touch(record!.id);
    return verified;
  }

  /**
   * Marks a key revoked (the record stays for audit) and announces it on API_KEY_REVOCATIONS_CHANNEL, in one
   * MULTI (announced again for a key already revoked: a cache that missed it drops it now). Returns false
   * when no such key exists.
   */
  async revoke(id: string, tenant?: string): Promise<boolean> {
    const record = await this.get(id);
    if (!record || (tenant !== undefined && record.tenant !== tenant)) return false;
    const tx = this.redis.multi();
    if (!record.revokedAt) tx.hset(REDIS_KEYS.apiKey(id), 'revokedAt', this.now().toISOString());
    await tx.publish(API_KEY_REVOCATIONS_CHANNEL, id).exec().then(throwOnMultiError);
    return true;
  }

  async list(tenant?: string): Promise<ApiKeyInfo[]> {
    const ids = await this.redis.smembers(API_KEY_INDEX);
    const records = await Promise.all(ids.sort().map((id) => this.get(id)));
    return records
      .filter((r): r is ApiKeyRecord => !!r && (tenant === undefined || r.tenant === tenant))
      .map(({ secretHash: _hidden, ...info }) => info);
  }

  async get(id: string): Promise<ApiKeyRecord | null> {
    if (!/^[0-9a-f]{1,64}$/.test(id)) return null;
    const hash = await this.redis.hgetall(REDIS_KEYS.apiKey(id));
    if (!hash.id) return null;
    return parseContract(ApiKeyRecord, 'ApiKeyRecord', {
      ...hash,
      scopes: JSON.parse(hash.scopes ?? '[]'),
      lastUsedAt: hash.lastUsedAt || undefined,
      revokedAt: hash.revokedAt || undefined,
    });
  }

  /** Writes lastUsedAt = now (callers keep it to once per LAST_USED_WRITE_INTERVAL_MS per key). */
  async touch(id: string): Promise<void> {
    await this.redis.hset(REDIS_KEYS.apiKey(id), 'lastUsedAt', this.now().toISOString());
  }
}

/** The verdict on a presented secret for a stored record (null: no such key); throws ApiKeyError. */
export function checkApiKeyRecord(record: ApiKeyRecord | null, secret: string): VerifiedApiKey {
  if (!record) throw new ApiKeyError('UNKNOWN', 'unknown API key');
  if (!secretMatchesHash(secret, record.secretHash)) throw new ApiKeyError('BAD_SECRET', 'unknown API key');
  if (record.revokedAt) throw new ApiKeyError('REVOKED', 'API key revoked');
  return { id: record.id, tenant: record.tenant, scopes: record.scopes };
}

/** Whether lastUsedAt (ISO text or epoch ms) is old enough to be written again. */
export function lastUsedIsDue(lastUsed: string | number | undefined, nowMs: number): boolean {
  if (lastUsed === undefined) return true;
  const at = typeof lastUsed === 'number' ? lastUsed : Date.parse(lastUsed);
  return !(nowMs - at < LAST_USED_WRITE_INTERVAL_MS);
}

function toHash(record: ApiKeyRecord): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record))
    if (v !== undefined) out[k] = k === 'scopes' ? JSON.stringify(v) : String(v);
  return out;
}

function throwOnMultiError(results: [Error | null, unknown][] | null): void {
  if (!results) throw new Error('API key write was aborted');
  for (const [err] of results) if (err) throw err;
}
