--[[
  A worker handed an attempt back unfinished (draining): the node is queued again under a new attempt
  number, without counting a failure. A release that says the attempt ran, applied before the attempt's start
  report (the node not yet RUNNING), starts the attempt first (lua/includes/start.lua): JOB_STARTED /
  NODE_STARTED before NODE_QUEUED (the node's workerId and startedAt are cleared by the requeue, as ever).
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] reason
    ARGV[7] worker id of a worker that says the attempt ran ('' = none: handed back before it ran)
    ARGV[8] when the attempt started (ISO; '' = now)
  Returns { 'requeued', nextAttempt } | { 'stale' }
]]
--@include common
--@include start
local nodeId, attempt, reason = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local ranOn = ARGV[7] or ''
local startedAt = (ARGV[8] or '') ~= '' and ARGV[8] or now
local job = hgetall(jobKey)
local node = hgetall(nodeKey(nodeId))
if not isCurrentAttempt(job, node, attempt) then return { 'stale' } end
if ranOn ~= '' and node.status ~= 'RUNNING' then startAttemptOf(job, nodeId, ranOn, startedAt, nil, false) end
node.message = nil -- set again below
local next = queueNode(job, nodeId, nowMs, node)
redis.call('HSET', nodeKey(nodeId), 'message', 'released: ' .. reason)
flush(job)
return { 'requeued', next }
