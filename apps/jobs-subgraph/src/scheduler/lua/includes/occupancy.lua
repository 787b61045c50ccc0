--[[
  A fair stage's occupancy (decision 0005 "Occupancy"), shared by the fair steps (fair.lua) and the transition
  steps that dispatch or end attempts (common.lua).
]]

-- A tenant's score in a fair stage's occupancy zset: 40 bits of the SHA-1 of its name (13 decimal digits: exact
-- through Lua's 14-digit number formatting). Two tenants whose names share them would count together (a pair
-- among n tenants: ~n^2 / 2^41).
local function occupancyScore(tenant)
  return tonumber(string.sub(redis.sha1hex(tenant), 1, 10), 16)
end

-- A member of the occupancy zset that is no attempt (score -1, below every tenant's): "a step found every tenant it
-- looked at at its share". completeAttempt removes it with its attempt in one ZREM, and fills the window when it was
-- there (common.lua endOccupancy): no read of the ring in every completion. FairQueue's OCCUPANCY_AT_SHARE.
local AT_SHARE = '~at-share'
