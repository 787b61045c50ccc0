--[[
  Holds an attempt in the fair-share stage (ready now, or delayed until its retry backoff elapses), then fills
  the dispatch window. Repeating it is harmless: an attempt already held stays where it is; one already
  dispatched is answered 'dispatched' so the caller adds it to the node queue again (a no-op there, or the
  repair of a crash between a dispatch and its queue add); one dispatched in a lease is answered 'leased' (its
  lease has another id: adding it again would put it in two jobs).
    ARGV[9] attempt id   ARGV[10] entry JSON { tenant, priority, payload }   ARGV[11] tenant   ARGV[12] priority
    ARGV[13] due (ms; <= now: ready now)
  Returns { status ('ready'|'delayed'|'held'|'dispatched'|'leased'), nextDue, dropped, id, entry, id, entry... }
]]
--@include fair
local id, entry, tenant, priority, dueMs = ARGV[9], ARGV[10], ARGV[11], ARGV[12], tonumber(ARGV[13])
local status
local out = { 'ready', 0, 0 }
if redis.call('EXISTS', leaseOfPrefix .. id) == 1 then
  status = 'leased'
elseif redis.call('ZSCORE', dispatchedKey, id) then
  status = 'dispatched'
elseif redis.call('HEXISTS', heldKey, id) == 1 then
  status = 'held'
elseif dueMs <= nowMs and dispatchAtOnce(id, entry, tenant, out) then
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
