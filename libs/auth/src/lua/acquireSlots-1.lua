--[[ Drop expired slots, then take as many of the given slots as fit under the limit, in order: one step, so
  replicas racing for the last slots cannot both get them. A burst of subscribes of one key is one call.
  Timed by the Redis server clock (every replica agrees).
  KEYS[1] slots   ARGV[1] limit   ARGV[2] ttl ms   ARGV[3..] members   Returns {taken (the first N members),
  live count after}. ]]
--@include redis-now
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZCARD', KEYS[1])
local room = tonumber(ARGV[1]) - live
local taken = 0
for i = 3, #ARGV do
  if taken >= room then break end
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
  taken = taken + 1
end
if taken > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return {taken, live + taken}
