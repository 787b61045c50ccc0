--[[
  Writes a staged output's record, if its object is still its stager's: the object's remove-after entry (added
  before the put, so an object whose stager dies before this step is removed by the sweep) is taken out here, in
  the same step as the record is written, so from now on only the record decides the object's life. If the
  entry is gone (the sweep claimed it although a running put pushes it back: Redis was out of reach for the whole
  grace), nothing is written and the stager removes the object (the sweep may have found none yet).
    KEYS[1] artifact hash   KEYS[2] attemptArtifacts set   KEYS[3] tenant's uncommitted zset
    KEYS[4] tenants with uncommitted entries   KEYS[5] tenant's created index   KEYS[6] tenants with created entries
    KEYS[7] tenant's stored-bytes counter   KEYS[8] tenant's artifact counter   KEYS[9] remove-after zset
    ARGV[1] artifact id   ARGV[2] object key   ARGV[3] uncommitted score (ms)   ARGV[4] createdAt (ms)
    ARGV[5] size   ARGV[6] tenant   ARGV[7..] the record's hash fields and values
  Returns 1 when written, 0 when the object was already claimed for removal.
]]
--@include sweep-index
if redis.call('ZREM', KEYS[9], ARGV[2]) == 0 then return 0 end
local fields = {}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('SADD', KEYS[2], ARGV[1])
sweepIndexAdd(KEYS[4], KEYS[3], ARGV[6], ARGV[3], ARGV[1])
sweepIndexAdd(KEYS[6], KEYS[5], ARGV[6], ARGV[4], ARGV[1])
-- outputs count toward the tenant's stored bytes and artifacts from staging on (released if they are swept), as
-- uploads do from their reservation; never refused (failing a running job would be worse)
redis.call('INCRBY', KEYS[7], ARGV[5])
redis.call('INCR', KEYS[8])
return 1
