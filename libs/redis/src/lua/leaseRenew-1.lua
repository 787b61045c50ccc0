--[[ Extends a lease only while we still hold it: one that expired and went to another holder stays theirs.
  KEYS[1] lease   ARGV[1] holder id   ARGV[2] ttl ms   Returns 1 when extended, else 0. ]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
