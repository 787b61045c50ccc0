--[[
  Commits a verified upload: pending -> committed, pointing at the copy the caller verified (not at the staging
  object the upload grant can still write). The copy leaves remove-after (it is now referenced); the staging
  object enters it for the grant's expiry. The record leaves the uncommitted indexes: the tenant's, and the
  global one an older release wrote (a record reserved before the upgrade is there).
    KEYS[1] artifact hash   KEYS[2] legacy global uncommitted zset   KEYS[3] tenant's uncommitted zset
    KEYS[4] tenants with uncommitted entries   KEYS[5] remove-after zset   KEYS[6] tenant's stored-bytes counter
    ARGV[1] id   ARGV[2] tenant   ARGV[3] measured size   ARGV[4] measured sha256   ARGV[5] the copy's object key
    ARGV[6] committedAt (ISO: when completeUpload was called; '' = none, as a caller from before the field sends)
  Returns 1 when committed; 0 when the record is not a pending upload of that tenant; -1 when the copy was
  already claimed for removal (the commit took longer than its grace), so it must not be referenced.
]]
--@include sweep-index
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
if redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[2] then return 0 end
if not redis.call('ZSCORE', KEYS[5], ARGV[5]) then return -1 end
local f = redis.call('HMGET', KEYS[1], 'key', 'size', 'grantExpiresAt')
local stagingKey, declared, grantExpiresAt = f[1], tonumber(f[2]) or 0, f[3] or '0'
local writes = { 'state', 'committed', 'size', ARGV[3], 'sha256', ARGV[4], 'key', ARGV[5] }
if ARGV[6] and ARGV[6] ~= '' then
  writes[#writes + 1] = 'committedAt'
  writes[#writes + 1] = ARGV[6]
end
redis.call('HSET', KEYS[1], unpack(writes))
redis.call('HDEL', KEYS[1], 'grantExpiresAt')
redis.call('ZREM', KEYS[2], ARGV[1])
sweepIndexRemove(KEYS[4], KEYS[3], ARGV[2], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[5])
redis.call('ZADD', KEYS[5], grantExpiresAt, stagingKey)
local delta = tonumber(ARGV[3]) - declared
if delta ~= 0 then redis.call('INCRBY', KEYS[6], delta) end
return 1
