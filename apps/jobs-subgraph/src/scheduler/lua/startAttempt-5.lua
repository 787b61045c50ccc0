--[[
  A worker started an attempt: node RUNNING (and the job RUNNING on its first start). Stale or duplicate
  reports change nothing but the worker id of a redelivered attempt.
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] worker id
  Returns { 'ok', resourceClass, queuedAt (ms) } | { 'stale', resourceClass? }
]]
--@include common
local nodeId, attempt, workerId = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local job = hgetall(jobKey)
local node = hgetall(nodeKey(nodeId))
if not isCurrentAttempt(job, node, attempt) then return { 'stale', node.resourceClass } end
if node.status == 'RUNNING' then
  -- the same attempt redelivered to another worker after a stall
  redis.call('HSET', nodeKey(nodeId), 'workerId', workerId)
  return { 'stale', node.resourceClass }
end
redis.call('HSET', nodeKey(nodeId), 'status', 'RUNNING', 'workerId', workerId, 'startedAt', now, 'progress', 0)
if job.status == 'QUEUED' then
  setJobStatus(job, 'RUNNING')
  if not job.startedAt then setJob(job, 'startedAt', now) end
  appendEvent(job, 'JOB_STARTED')
end
appendEvent(job, 'NODE_STARTED', nodeId, nil, 'worker ' .. workerId)
flush(job)
return { 'ok', node.resourceClass, node.queuedAt or '' }
