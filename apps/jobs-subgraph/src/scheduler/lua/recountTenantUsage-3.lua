--[[
  The leader's audit of one tenant's quota usage, in ONE atomic step (so no transition interleaves): the
  QUEUED/RUNNING status indexes are made to agree with the job hashes, then `openNodes` is recounted from them.
  Transitions keep both exact; this repairs what they cannot have kept: jobs that were unfinished before the
  indexes existed, and a counter edited or lost by hand.
    KEYS[1] the tenant's usage hash   KEYS[2] its QUEUED status index   KEYS[3] its RUNNING status index
    ARGV[1] job hash key prefix ("sy:job:")   ARGV[2..] ids the active-jobs set lists for this tenant
  Returns { openNodes before, openNodes after, entries added, entries dropped }
]]
local usageKey, jobPrefix = KEYS[1], ARGV[1]
local tenantPrefix = string.sub(usageKey, 1, #usageKey - 6)
local indexOf = { QUEUED = KEYS[2], RUNNING = KEYS[3] }
local added, dropped = 0, 0

-- unfinished jobs missing from their index (the set the caller read may be stale: each is checked here)
for i = 2, #ARGV do
  local id = ARGV[i]
  local j = redis.call('HMGET', jobPrefix .. id, 'status', 'template', 'feedKey')
  local index = indexOf[j[1] or '']
  if index and j[3] == tenantPrefix .. ':feed' and not redis.call('ZSCORE', index, id) then
    local createdMs = redis.call('ZSCORE', tenantPrefix .. ':jobs', id) or 0
    redis.call('ZADD', index, createdMs, id)
    if j[2] then redis.call('ZADD', tenantPrefix .. ':jobs:template:' .. j[2] .. ':status:' .. j[1], createdMs, id) end
    added = added + 1
  end
end

-- sum what is open; entries whose job is gone or has another status leave the index
local open = 0
for status, index in pairs(indexOf) do
  for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    local j = redis.call('HMGET', jobPrefix .. id, 'status', 'nodeCount', 'succeededCount', 'template')
    if j[1] == status then
      open = open + tonumber(j[2] or '0') - tonumber(j[3] or '0')
    else
      redis.call('ZREM', index, id)
      if j[4] then redis.call('ZREM', tenantPrefix .. ':jobs:template:' .. j[4] .. ':status:' .. status, id) end
      dropped = dropped + 1
    end
  end
end

local before = tonumber(redis.call('HGET', usageKey, 'openNodes') or '0')
if before ~= open then redis.call('HSET', usageKey, 'openNodes', open) end
return { before, open, added, dropped }
