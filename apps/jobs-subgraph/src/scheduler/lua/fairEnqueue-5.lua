--[[
  Holds an attempt in the fair-share stage (ready now, or delayed until its retry backoff elapses), then fills
  the dispatch window. Repeating it is harmless: an attempt already held stays where it is; one already
  dispatched is answered 'dispatched' so the caller adds it to the node queue again (a no-op there, or the
  repair of a crash between a dispatch and its queue add).
    ARGV[5] attempt id   ARGV[6] entry JSON { tenant, priority, payload }   ARGV[7] tenant   ARGV[8] priority
    ARGV[9] due (ms; <= now: ready now)
  Returns { status ('ready'|'delayed'|'held'|'dispatched'), nextDue, dropped, id, entry, id, entry... }
]]
--@include fair
local id, entry, tenant, priority, dueMs = ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
local status
local out = { 'ready', 0, 0 }
if redis.call('ZSCORE', dispatchedKey, id) then
  status = 'dispatched'
elseif redis.call('HEXISTS', heldKey, id) == 1 then
  status = 'held'
elseif dueMs <= nowMs and dispatchAtOnce(id, entry, out) then
  out[2] = nextDue()
  return out
else
  redis.call('HSET', heldKey, id, entry)
  if dueMs > nowMs then
    redis.call('ZADD', delayedKey, dueMs, id)
    delayedChanged()
    status = 'delayed'
  else
    makeReady(id, tenant, priority, nowMs)
    status = 'ready'
  end
end
out[1] = status
out[3] = dispatch(out)
out[2] = nextDue()
return out
