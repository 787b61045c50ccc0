--[[
  A worker handed an attempt back unfinished (draining): the node is queued again under a new attempt
  number, without counting a failure. A release that says the attempt ran, applied before the attempt's start
  report (the node not yet RUNNING), starts the attempt first (lua/includes/start.lua startFirst): JOB_STARTED /
  NODE_STARTED before NODE_QUEUED (the node's workerId and startedAt are cleared by the requeue, as ever), the
  dispatch slot freed.
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] reason
    ARGV[7] worker id of a worker that says the attempt ran ('' = none: handed back before it ran)
    ARGV[8] when the attempt started (ISO; '' = now)
    ARGV[9] attempt id (the queue job id)   ARGV[10] fair-stage key prefix ('' = the enqueuer frees slots itself)
  Returns { 'requeued', start, nextAttempt } | { 'stale' } where start = { applied (1|0), released (1|0),
  fill (1|0), queuedAt or '', resourceClass or '' } of that start
]]
--@include common
--@include start
local nodeId, attempt, reason = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local ranOn = ARGV[7] or ''
local startedAt = (ARGV[8] or '') ~= '' and ARGV[8] or now
local attemptId, fairPrefix = ARGV[9] or '', ARGV[10] or ''
local job = hgetall(jobKey)
local node = hgetall(nodeKey(nodeId))
if not isCurrentAttempt(job, node, attempt) then return { 'stale' } end
local start = noStart(node)
if ranOn ~= '' and node.status ~= 'RUNNING' then
  local by = { workerId = ranOn, startedAt = startedAt, attemptId = attemptId, fairPrefix = fairPrefix }
  start = startFirst(job, nodeId, node, by, nil, false)
end
-- handed back: it occupies nothing until dispatched again (the requeue's enqueue fills the window after)
endOccupancy(fairPrefix, node.resourceClass, attemptId, true)
node.message = nil -- set again below
local next = queueNode(job, nodeId, nowMs, node)
redis.call('HSET', nodeKey(nodeId), 'message', 'released: ' .. reason)
flush(job)
return { 'requeued', start, next }
