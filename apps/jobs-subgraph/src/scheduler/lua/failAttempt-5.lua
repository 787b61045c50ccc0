--[[
  An attempt failed (worker report, invalid outputs, crash or schedule-to-start deadline found by the
  reconciler). A retryable error with attempts left makes the node RETRYING with the next attempt eligible
  after the given backoff; otherwise the node FAILS, the nodes downstream are CANCELLED (UPSTREAM_FAILED),
  the job FAILS with the node's error and enters the dead-letter set.
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] error JSON (JobError)   ARGV[7] retryable (1|0)
    ARGV[8] backoff ms before the next attempt
    ARGV[9] '1' when the failure is only true of an attempt no worker has started (schedule-to-start)
    ARGV[10] worker id of a worker that says the attempt ran ('' = none: a refusal before the run, a verdict of
    the scheduler's)   ARGV[11] when the attempt started (ISO; '' = now)
    ARGV[12] attempt id (the queue job id)   ARGV[13] fair-stage key prefix ('' = the enqueuer frees slots itself)
  A failure that says the attempt ran, applied before the attempt's start report (the node not yet RUNNING),
  starts the attempt first (lua/includes/start.lua startFirst): JOB_STARTED / NODE_STARTED before the failure's
  events, the dispatch slot freed.
  Returns { 'retry', start, nextAttempt, eligibleAtMs } | { 'failed', start, liveAttempt... } | { 'stale' }
  where start = { applied (1|0), released (1|0), fill (1|0), queuedAt or '', resourceClass or '' } of that start
]]
--@include common
--@include start
local nodeId, attempt, errorJson = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local retryable, backoffMs = ARGV[7] == '1', tonumber(ARGV[8])
local unlessStarted = ARGV[9] == '1'
local ranOn = ARGV[10] or ''
local startedAt = (ARGV[11] or '') ~= '' and ARGV[11] or now
local attemptId, fairPrefix = ARGV[12] or '', ARGV[13] or ''
local job = hgetall(jobKey)
local node = hgetall(nodeKey(nodeId))
if not isCurrentAttempt(job, node, attempt) then return { 'stale' } end
if unlessStarted and node.status == 'RUNNING' then return { 'stale' } end

local err = cjson.decode(errorJson)
local failures = tonumber(node.failures or '0') + 1
local retrying = retryable and failures < tonumber(node.maxAttempts)
-- failing the job reads and decodes the graph first: nothing is written when that meets corrupt state
local read = not retrying and readForFinish(job, nodeId) or nil
redis.call('HINCRBY', nodeKey(nodeId), 'failures', 1)
-- the start this failure overtook (a retry clears the node's workerId and startedAt: only the job's are written)
local nodeWrites = { 'status', 'FAILED', 'error', errorJson, 'finishedAt', now }
local start = noStart(node)
if ranOn ~= '' and node.status ~= 'RUNNING' then
  local by = { workerId = ranOn, startedAt = startedAt, attemptId = attemptId, fairPrefix = fairPrefix }
  start = startFirst(job, nodeId, node, by, not retrying and nodeWrites or nil, not retrying)
end
-- the attempt ended: its occupancy too (the retry's enqueue or the failure's removals fill the window after)
endOccupancy(fairPrefix, node.resourceClass, attemptId, true)
if retrying then
  local eligibleAt = nowMs + backoffMs
  local next = redis.call('HINCRBY', nodeKey(nodeId), 'attempt', 1)
  redis.call('HSET', nodeKey(nodeId), 'status', 'RETRYING', 'error', errorJson, 'queuedAt', eligibleAt, 'progress', 0)
  redis.call('HDEL', nodeKey(nodeId), 'workerId', 'startedAt', 'runStartedAt')
  appendEvent(job, 'NODE_RETRYING', nodeId, nil,
    'attempt ' .. attempt .. ' failed (' .. err.code .. ': ' .. err.message .. '); attempt ' .. next .. ' in ' .. backoffMs .. ' ms')
  flush(job)
  return { 'retry', start, next, eligibleAt }
end

redis.call('HSET', nodeKey(nodeId), unpack(nodeWrites))
appendEvent(job, 'NODE_FAILED', nodeId, nil, err.code .. ': ' .. err.message)
local reason = clip('node ' .. nodeId .. ' failed: ' .. err.message, 4000)
local jobError = cjson.encode({ code = err.code, message = reason, retryable = err.retryable })
local live = finishJob(job, 'FAILED', jobError, reason, read)
flush(job)
local result = { 'failed', start }
for _, l in ipairs(live) do table.insert(result, l) end
-- the failed attempt's own queue entry is removed too (it may still sit in the queue after a deadline)
table.insert(result, nodeId .. '|' .. attempt .. '|' .. node.resourceClass)
return result
