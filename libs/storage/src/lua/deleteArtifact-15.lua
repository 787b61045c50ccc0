--[[
  Deletes an artifact record if it is in one of the allowed states (and of the tenant, when ARGV[3] is not
  empty), queues its object for removal, and releases it from the tenant's artifact count and its bytes from
  the tenant's stored-bytes count.
    KEYS[1] artifact hash   KEYS[2] legacy global uncommitted zset   KEYS[3] legacy global created index
    KEYS[4] objects-to-delete set
    KEYS[5] jobArtifacts set (or KEYS[1] again when the record has no job)   KEYS[6] attemptArtifacts set (same)
    KEYS[7] remove-after zset   KEYS[8] the tenant's stored-bytes counter   KEYS[9] the tenant's artifact counter
    KEYS[10] the id's expired-output mark
    KEYS[11] the job's artifact order index (REDIS_KEYS.jobArtifactOrder; KEYS[1] again when no job): its
    member leaves with the set's
    KEYS[12] the record's tenant's uncommitted zset   KEYS[13] tenants with uncommitted entries
    KEYS[14] the record's tenant's created index   KEYS[15] tenants with created entries
    ARGV[1] artifact id   ARGV[2] allowed states (comma list)   ARGV[3] tenant or ''
    ARGV[4] how long (ms) the expired-output mark lasts   ARGV[5] the record's tenant (KEYS[12..15] are its)
  The id leaves the tenant's sweep indexes (lua/includes/sweep-index) and the global ones an older release wrote.
  A pending upload's staging object is also queued in remove-after for its grant's expiry: the client may
  still write it until then. A staged output (the orphan sweep's) leaves a mark naming its attempt's set, so a
  completion that still lists it is told the output expired, not that the attempt never staged it.
  Returns the object key, or false when nothing was deleted.
]]
--@include artifact-order
--@include sweep-index
local function unindex()
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  sweepIndexRemove(KEYS[13], KEYS[12], ARGV[5], ARGV[1])
  sweepIndexRemove(KEYS[15], KEYS[14], ARGV[5], ARGV[1])
end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  unindex()
  return false
end
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do
  if s == state then allowed = true end
end
if not allowed then return false end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[3] then return false end
-- the keys of the tenant's indexes were built from the record the caller read: a tenant never changes
if redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[5] then return false end
local f = redis.call('HMGET', KEYS[1], 'key', 'size', 'grantExpiresAt', 'tenant', 'createdAt', 'name', 'commitSeq')
local key, size, grantExpiresAt = f[1], tonumber(f[2]) or 0, f[3]
redis.call('DEL', KEYS[1])
unindex()
if KEYS[5] ~= KEYS[1] and redis.call('SREM', KEYS[5], ARGV[1]) == 1 and KEYS[11] ~= KEYS[1] then
  -- the member the commit (or the read's rebuild) wrote, from the same fields
  redis.call('ZREM', KEYS[11], artifactOrderMember(ARGV[1], state, f[4], f[5], f[6], f[7]))
end
if KEYS[6] ~= KEYS[1] then redis.call('SREM', KEYS[6], ARGV[1]) end
if state == 'staged' and KEYS[6] ~= KEYS[1] then redis.call('SET', KEYS[10], KEYS[6], 'PX', ARGV[4]) end
redis.call('SADD', KEYS[4], key)
if grantExpiresAt then redis.call('ZADD', KEYS[7], grantExpiresAt, key) end
-- never below zero (records written before the counters existed were never counted)
if size > 0 then
  if redis.call('DECRBY', KEYS[8], size) <= 0 then redis.call('DEL', KEYS[8]) end
end
if redis.call('DECR', KEYS[9]) <= 0 then redis.call('DEL', KEYS[9]) end
return key
