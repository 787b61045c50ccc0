--[[ Gives a lease up only while we still hold it.
  KEYS[1] lease   ARGV[1] holder id   Returns 1 when deleted, else 0. ]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
