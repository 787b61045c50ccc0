--[[
  Progress of a running attempt.
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] progress 0..1   ARGV[7] message ('' = none)
  Returns 'ok' | 'stale'
]]
--@include common
local nodeId, attempt, progress, message = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local job = hgetall(jobKey)
local node = hgetall(nodeKey(nodeId))
if not isCurrentAttempt(job, node, attempt) or node.status ~= 'RUNNING' then return 'stale' end
if message ~= '' then
  redis.call('HSET', nodeKey(nodeId), 'progress', progress, 'message', message)
else
  redis.call('HSET', nodeKey(nodeId), 'progress', progress)
end
appendEvent(job, 'NODE_PROGRESS', nodeId, progress, message)
flush(job)
return 'ok'
