--[[
  Fills the dispatch window (after a slot was freed, a retry became due, or as the leader's safety net).
    ARGV[9] '1': then, with the window full, look for attempts to take back (fair.lua takeBackCandidates: a tenant
    joined the ring in a submit step, or the leader's pass)
  Returns { nextDue, dropped, id, entry, id, entry... }
]]
--@include fair
takeBackAsked = ARGV[9] == '1'
local out = { 0, 0 }
out[2] = dispatch(out)
out[1] = nextDue()
return out
