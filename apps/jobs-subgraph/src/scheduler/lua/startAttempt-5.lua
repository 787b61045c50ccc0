--[[
  A worker started an attempt: node RUNNING (and the job RUNNING on its first start; lua/includes/start.lua).
  Stale or duplicate reports change nothing but the worker id of a redelivered attempt (and its runStartedAt:
  when the run on that worker began, which the reconciler's start-to-close backstop counts from; startedAt stays
  the attempt's first start); so does a start that comes after its attempt's end (the terminal step applied it first).
  The attempt no longer waits in a queue: with a fair-stage prefix, its dispatch slot is freed in this same step
  (what FairQueue.release's ZREM does; lua/includes/fair.lua has the layout), and the answer says whether
  tenants wait for the freed room (then the caller fills the window: fairDispatch).
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] worker id   ARGV[7] attempt id (the queue job id)
    ARGV[8] fair-stage key prefix ("<prefix>:fair:"; empty: the enqueuer frees slots itself)
  Returns { 'ok'|'stale', resourceClass or '', queuedAt (ms) or '', released (1|0), fill (1|0) }
]]
--@include common
--@include start
local nodeId, attempt, workerId = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local attemptId, fairPrefix = ARGV[7], ARGV[8]
local job = hmgetTable(jobKey, JOB_STEP_FIELDS)
local node = hmgetTable(nodeKey(nodeId), { 'status', 'attempt', 'resourceClass', 'queuedAt', 'workerId' })

-- the slot is freed whatever the outcome (a stale start still left the queue)
local released, fill = releaseDispatchSlot(fairPrefix, node.resourceClass, attemptId)
local rc = node.resourceClass or ''
if not isCurrentAttempt(job, node, attempt) then return { 'stale', rc, '', released, fill } end
if node.status == 'RUNNING' then
  -- the same attempt redelivered to another worker after a stall: its run there starts now (a duplicate report of
  -- the same worker's start moves nothing)
  if node.workerId ~= workerId then redis.call('HSET', nodeKey(nodeId), 'workerId', workerId, 'runStartedAt', now) end
  return { 'stale', rc, '', released, fill }
end
local nodeWrites = { 'status', 'RUNNING', 'progress', 0 }
startAttemptOf(job, nodeId, workerId, now, nodeWrites, false)
redis.call('HSET', nodeKey(nodeId), unpack(nodeWrites))
flush(job)
return { 'ok', rc, node.queuedAt or '', released, fill }
