/**
 * Atomic metadata steps of artifacts. Every key a script touches is passed in KEYS.
 */

/**
 * Deletes an artifact record if it is in one of the allowed states (and of the tenant, when ARGV[3] is
 * not empty), and queues its object for removal.
 * KEYS: 1 artifact hash, 2 uncommitted zset, 3 created index, 4 objects-to-delete set, 5 jobArtifacts
 * set (or the artifact hash again when the record has no job), 6 attemptArtifacts set (same fallback)
 * ARGV: 1 artifact id, 2 allowed states (comma list), 3 tenant or ''
 * Returns the object key, or false when nothing was deleted.
 */
export const DELETE_ARTIFACT_LUA = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return false
end
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do
  if s == state then allowed = true end
end
if not allowed then return false end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[3] then return false end
local key = redis.call('HGET', KEYS[1], 'key')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if KEYS[5] ~= KEYS[1] then redis.call('SREM', KEYS[5], ARGV[1]) end
if KEYS[6] ~= KEYS[1] then redis.call('SREM', KEYS[6], ARGV[1]) end
redis.call('SADD', KEYS[4], key)
return key
`;

/**
 * Commits a verified upload: pending → committed with the measured size and sha256.
 * KEYS: 1 artifact hash, 2 uncommitted zset. ARGV: 1 id, 2 tenant, 3 size, 4 sha256.
 * Returns 1 when committed, 0 when the record is not a pending upload of that tenant.
 */
export const COMMIT_UPLOAD_LUA = `
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
if redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'committed', 'size', ARGV[3], 'sha256', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;
