--[[
  Moves up to ARGV[2] object keys whose time in remove-after has come into objects-to-delete, in one step, so
  a commit can no longer reference one of them and a crash before the removal leaks nothing.
    KEYS[1] remove-after zset   KEYS[2] objects-to-delete set   ARGV[1] now (ms)   ARGV[2] limit
  Returns how many were claimed.
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, key in ipairs(due) do
  redis.call('ZREM', KEYS[1], key)
  redis.call('SADD', KEYS[2], key)
end
return #due
