--[[
  Reserves a client upload: checks the tenant's artifact-count and stored-bytes quotas and, only if both allow
  it, writes the pending record, indexes it for the sweeps (the tenant's own indexes, lua/includes/sweep-index)
  and counts it (one record, its declared bytes), all in one step (a refusal writes nothing).
    KEYS[1] artifact hash   KEYS[2] tenant's uncommitted zset   KEYS[3] tenants with uncommitted entries
    KEYS[4] tenant's created index   KEYS[5] tenants with created entries   KEYS[6] tenant's stored-bytes counter
    KEYS[7] tenant's artifact counter
    ARGV[1] artifact id   ARGV[2] createdAt (ms)   ARGV[3] declared size   ARGV[4] quota in bytes (0 = none)
    ARGV[5] quota in artifacts (0 = none)   ARGV[6] tenant   ARGV[7..] the record's hash fields and values
  Returns { 1 } when reserved, { 0, quota name, used now } when a quota refuses.
]]
--@include sweep-index
local size, maxBytes, maxArtifacts = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
-- records first: a zero-byte upload costs no bytes, but every record costs Redis memory and sweep work
local artifacts = tonumber(redis.call('GET', KEYS[7]) or '0')
if maxArtifacts > 0 and artifacts + 1 > maxArtifacts then return { 0, 'artifacts', tostring(artifacts) } end
local used = tonumber(redis.call('GET', KEYS[6]) or '0')
if maxBytes > 0 and used + size > maxBytes then return { 0, 'storedBytes', tostring(used) } end
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('artifact ' .. ARGV[1] .. ' exists') end
local fields = {}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
sweepIndexAdd(KEYS[3], KEYS[2], ARGV[6], ARGV[2], ARGV[1])
sweepIndexAdd(KEYS[5], KEYS[4], ARGV[6], ARGV[2], ARGV[1])
redis.call('INCR', KEYS[7])
if size > 0 then redis.call('INCRBY', KEYS[6], size) end
return { 1 }
