--[[ Extend this replica's slots of one key. ZADD (not XX): a slot dropped while Redis was unreachable for
  longer than the TTL is still a live subscription, so it is counted again.
  KEYS[1] slots   ARGV[1] ttl ms   ARGV[2..] members   Returns the number of members refreshed. ]]
--@include redis-now
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ttl)
return #ARGV - 1
