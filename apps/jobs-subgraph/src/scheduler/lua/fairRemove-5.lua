--[[
  Takes an attempt out of the stage wherever it is (held ready or delayed, holding a dispatch slot, occupying), for a
  cancelled or failed job, or a lease the reconciler found lost; the window is filled again. The caller removes
  it from the node queue too (a lease it is in stays: its worker skips an attempt that is no longer current).
    ARGV[9] attempt id
  Returns { removed (1|0), nextDue, dropped, id, entry, id, entry... }
]]
--@include fair
local id = ARGV[9]
local removed = 0
local raw = redis.call('HGET', heldKey, id)
if raw then
  local tenant = cjson.decode(raw).tenant
  local readyKey = readyPrefix .. tenant
  if redis.call('ZREM', readyKey, id) == 1 and redis.call('ZCARD', readyKey) == 0 then
    redis.call('LREM', ringKey, 0, tenant)
  end
  if redis.call('ZREM', delayedKey, id) == 1 then delayedChanged() end
  redis.call('HDEL', heldKey, id)
  removed = 1
end
if redis.call('ZREM', dispatchedKey, id) == 1 then removed = 1 end
if redis.call('DEL', leaseOfPrefix .. id) == 1 then removed = 1 end
-- an attempt taken out ends its occupancy (the ending step may have removed it already: a no-op then)
redis.call('ZREM', occupancyKey, id)
local out = { removed, 0, 0 }
out[3] = dispatch(out)
out[2] = nextDue()
return out
