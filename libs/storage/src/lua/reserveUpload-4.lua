--[[
  Reserves a client upload: checks the tenant's stored-bytes quota and, only if it allows the declared size,
  writes the pending record, indexes it and counts its bytes, all in one step (a refusal writes nothing).
    KEYS[1] artifact hash   KEYS[2] uncommitted zset   KEYS[3] created index   KEYS[4] tenant's stored-bytes counter
    ARGV[1] artifact id   ARGV[2] createdAt (ms)   ARGV[3] declared size   ARGV[4] quota in bytes (0 = none)
    ARGV[5..] the record's hash fields and values
  Returns { 1, used after } when reserved, { 0, used now } when the quota refuses.
]]
local size, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local used = tonumber(redis.call('GET', KEYS[4]) or '0')
if limit > 0 and used + size > limit then return { 0, tostring(used) } end
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('artifact ' .. ARGV[1] .. ' exists') end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
local after = used
if size > 0 then after = redis.call('INCRBY', KEYS[4], size) end
return { 1, tostring(after) }
