--[[
  A worker handed an attempt back unfinished (draining): the node is queued again under a new attempt
  number, without counting a failure.
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] reason
  Returns { 'requeued', nextAttempt } | { 'stale' }
]]
--@include common
local nodeId, attempt, reason = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local job = hgetall(jobKey)
local node = hgetall(nodeKey(nodeId))
if not isCurrentAttempt(job, node, attempt) then return { 'stale' } end
node.message = nil -- set again below
local next = queueNode(job, nodeId, nowMs, node)
redis.call('HSET', nodeKey(nodeId), 'message', 'released: ' .. reason)
flush(job)
return { 'requeued', next }
