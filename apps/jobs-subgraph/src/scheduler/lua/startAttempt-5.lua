--[[
  A worker started an attempt: node RUNNING (and the job RUNNING on its first start). Stale or duplicate
  reports change nothing but the worker id of a redelivered attempt.
  The attempt no longer waits in a queue: with a fair-stage prefix, its dispatch slot is freed in this same step
  (what FairQueue.release's ZREM does; lua/includes/fair.lua has the layout), and the answer says whether
  tenants wait for the freed room (then the caller fills the window: fairDispatch).
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] worker id   ARGV[7] attempt id (the queue job id)
    ARGV[8] fair-stage key prefix ("<prefix>:fair:"; empty: the enqueuer frees slots itself)
  Returns { 'ok'|'stale', resourceClass or '', queuedAt (ms) or '', released (1|0), fill (1|0) }
]]
--@include common
local nodeId, attempt, workerId = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local attemptId, fairPrefix = ARGV[7], ARGV[8]
local job = hmgetTable(jobKey, JOB_STEP_FIELDS)
local node = hmgetTable(nodeKey(nodeId), { 'status', 'attempt', 'resourceClass', 'queuedAt' })

-- Frees the attempt's slot whatever the outcome (a stale start still left the queue); fill = 1 when tenants
-- wait in the ring for the room. A retry whose backoff elapsed is not looked for here: the dispatcher's timer
-- for it (and the leader's pass) promotes it and fills the window, which now has this room.
local function releaseSlot()
  local rc = node.resourceClass
  if fairPrefix == '' or not rc then return 0, 0 end
  local stage = fairPrefix .. rc
  if redis.call('ZREM', stage .. ':dispatched', attemptId) == 0 then return 0, 0 end
  if redis.call('LLEN', stage .. ':ring') > 0 then return 1, 1 end
  return 1, 0
end

local released, fill = releaseSlot()
local rc = node.resourceClass or ''
if not isCurrentAttempt(job, node, attempt) then return { 'stale', rc, '', released, fill } end
if node.status == 'RUNNING' then
  -- the same attempt redelivered to another worker after a stall
  redis.call('HSET', nodeKey(nodeId), 'workerId', workerId)
  return { 'stale', rc, '', released, fill }
end
redis.call('HSET', nodeKey(nodeId), 'status', 'RUNNING', 'workerId', workerId, 'startedAt', now, 'progress', 0)
if job.status == 'QUEUED' then
  setJobStatus(job, 'RUNNING')
  if not job.startedAt then setJob(job, 'startedAt', now) end
  appendEvent(job, 'JOB_STARTED')
end
appendEvent(job, 'NODE_STARTED', nodeId, nil, 'worker ' .. workerId)
flush(job)
return { 'ok', rc, node.queuedAt or '', released, fill }
