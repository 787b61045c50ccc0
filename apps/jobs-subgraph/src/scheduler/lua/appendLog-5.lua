--[[
  A log line of a running attempt, as a LOG event ("[level] message").
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] level   ARGV[7] message
  Returns 'ok' | 'stale'
]]
--@include common
local nodeId, attempt, level, message = ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local job = hgetall(jobKey)
local node = hgetall(nodeKey(nodeId))
if not isCurrentAttempt(job, node, attempt) then return 'stale' end
appendEvent(job, 'LOG', nodeId, nil, '[' .. level .. '] ' .. message)
flush(job)
return 'ok'
