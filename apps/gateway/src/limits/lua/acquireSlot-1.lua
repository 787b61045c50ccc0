--[[ Drop expired slots, then take one if fewer than the limit are live: one step, so replicas racing for the
  last slot cannot both get it. Timed by the Redis server clock (every replica agrees).
  KEYS[1] slots   ARGV[1] limit   ARGV[2] member   ARGV[3] ttl ms   Returns {taken 0|1, live count after}. ]]
--@include redis-now
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZCARD', KEYS[1])
if live >= tonumber(ARGV[1]) then return {0, live} end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, live + 1}
