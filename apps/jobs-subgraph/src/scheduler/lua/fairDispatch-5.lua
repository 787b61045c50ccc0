--[[
  Fills the dispatch window (after a slot was freed, a retry became due, or as the leader's safety net).
  Returns { nextDue, dropped, id, entry, id, entry... }
]]
--@include fair
local out = { 0, 0 }
out[2] = dispatch(out)
out[1] = nextDue()
return out
