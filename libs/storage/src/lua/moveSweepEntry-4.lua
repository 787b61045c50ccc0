--[[
  The sweep's own index step for one id of one kind (uncommitted or created): takes it out of the global index an
  older release wrote, and either reschedules it in its tenant's index (a job's output whose retention counts from
  a later time) or drops it there too (a stale entry: the record is gone, or no longer the kind's). A record that
  is gone, or is not the tenant's, is never rescheduled, so no entry outlives its record for long. A drop also puts
  the tenant's place in the tenants index right (its earliest entry, or out), which the sweep asks for with an
  empty id when it finds a listed tenant with nothing due (only a hand edit can leave one).
    KEYS[1] artifact hash   KEYS[2] legacy global index   KEYS[3] tenant's index   KEYS[4] tenants with entries
    ARGV[1] id   ARGV[2] tenant   ARGV[3] new score (ms), or '' to drop the entry
  Returns 1 when rescheduled, 0 when dropped.
]]
--@include sweep-index
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'tenant') == ARGV[2] then
  sweepIndexAdd(KEYS[4], KEYS[3], ARGV[2], ARGV[3], ARGV[1])
  return 1
end
-- re-placed even when the entry was not there: a lane the sweep found with nothing due is put right (empty id)
redis.call('ZREM', KEYS[3], ARGV[1])
sweepIndexPlace(KEYS[4], KEYS[3], ARGV[2])
return 0
