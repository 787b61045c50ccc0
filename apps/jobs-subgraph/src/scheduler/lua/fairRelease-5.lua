--[[
  A worker took a dispatched attempt (or it ended): its slot in the window is free; the window is filled again.
  Releasing an attempt that holds no slot changes nothing.
    ARGV[9] attempt id
  Returns { released (1|0), nextDue, dropped, id, entry, id, entry... }
]]
--@include fair
local released = redis.call('ZREM', dispatchedKey, ARGV[9])
if released == 0 then return { 0, -1, 0 } end
local out = { 1, 0, 0 }
out[3] = dispatch(out)
out[2] = nextDue()
return out
