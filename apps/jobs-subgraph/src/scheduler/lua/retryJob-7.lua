--[[
  Runs a FAILED or CANCELLED job's unfinished nodes again: they restart with fresh failure counts (and new
  attempt numbers, so late reports of old attempts stay stale); nodes whose upstream nodes have all
  succeeded are QUEUED at once. The job leaves the dead-letter set and the finished index (so
  the retention sweep no longer selects it) and gets a new deadline.
    KEYS[6] the job's tenant's artifact bytes counter   KEYS[7] its artifact-record counter (as submitJob-10.lua's
            KEYS[9], KEYS[10]: written by libs/storage; REDIS_KEYS.tenantStoredBytes / tenantArtifacts)
    ARGV[4] new deadline (ms)   ARGV[5] the tenant's max unfinished jobs   ARGV[6] its max open nodes
    ARGV[7] its max artifact bytes (TENANT_MAX_STORED_BYTES; 0 = off)   ARGV[8] its max artifact records
            (TENANT_MAX_ARTIFACTS; 0 = off)   ARGV[9] the tenant KEYS[6] and KEYS[7] belong to
  The job's unfinished nodes count against the tenant's quotas again, and a tenant at or over an artifact quota
  is refused as at submit (used >= max, requested 0): the re-run nodes write new outputs. The job quotas come
  first, as in submitJob-10.lua. A refusal changes nothing.
  Returns { 'retried', readyNodeId... } | { 'conflict', status } | { 'missing' }
        | { 'quota', name, max, used, requested }
]]
--@include common
local job = hgetall(jobKey)
if not job.status then return { 'missing' } end
if job.status ~= 'FAILED' and job.status ~= 'CANCELLED' then return { 'conflict', job.status } end

local reopened = tonumber(job.nodeCount) - tonumber(job.succeededCount or '0')
local refusal = quotaRefusal(tenantPrefix(job), tonumber(ARGV[5]), tonumber(ARGV[6]), 1, reopened)
if refusal then return refusal end
local maxBytes, maxArtifacts = tonumber(ARGV[7] or '0') or 0, tonumber(ARGV[8] or '0') or 0
if maxBytes > 0 or maxArtifacts > 0 then
  -- the counters are the caller's tenant's: a job of another tenant would be checked against the wrong ones
  if job.tenant ~= ARGV[9] then
    return redis.error_reply('job ' .. job.id .. ' is not of tenant ' .. tostring(ARGV[9]))
  end
  local counters = redis.call('MGET', KEYS[6], KEYS[7])
  local over = artifactQuotaRefusal(maxBytes, maxArtifacts, tonumber(counters[1] or '0') or 0,
    tonumber(counters[2] or '0') or 0)
  if over then return over end
end

-- Everything the step uses is read and decoded before its first write: Redis keeps the writes a script made
-- before an error, so corrupt node state must fail the retry with nothing changed.
local nodeIds = cjson.decode(job.nodeIds)
local succeeded, upstreamOf, attemptOf = {}, {}, {}
for _, nodeId in ipairs(nodeIds) do
  local node = redis.call('HMGET', nodeKey(nodeId), 'status', 'upstream', 'attempt')
  succeeded[nodeId] = node[1] == 'SUCCEEDED'
  if not succeeded[nodeId] then
    upstreamOf[nodeId] = cjson.decode(node[2])
    attemptOf[nodeId] = node[3] or '0'
    if not tonumber(attemptOf[nodeId]) then
      return redis.error_reply('node ' .. nodeId .. ' of job ' .. job.id .. ' has no valid attempt number')
    end
  end
end

addOpenNodes(job, reopened)
setJobStatus(job, 'QUEUED')
setJob(job, 'deadlineAt', ARGV[4])
redis.call('HDEL', jobKey, 'error', 'finishedAt')
job.error, job.finishedAt = nil, nil
redis.call('SADD', activeKey, job.id)
redis.call('ZREM', deadLetterKey, job.id)
redis.call('ZREM', finishedKey, job.id)
redis.call('DEL', cancelledKey)
appendEvent(job, 'JOB_QUEUED', nil, nil, 'retry')

local result = { 'retried' }
for _, nodeId in ipairs(nodeIds) do
  if not succeeded[nodeId] then
    local pending = 0
    for _, u in ipairs(upstreamOf[nodeId]) do
      if not succeeded[u] then pending = pending + 1 end
    end
    redis.call('HSET', nodeKey(nodeId), 'status', 'PENDING', 'failures', 0, 'pending', pending, 'progress', 0)
    redis.call('HDEL', nodeKey(nodeId), 'error', 'message', 'outputs', 'workerId', 'startedAt', 'runStartedAt', 'finishedAt')
    if pending == 0 then
      -- the attempt fields were just cleared: only the attempt number is needed
      queueNode(job, nodeId, nowMs, { attempt = attemptOf[nodeId] })
      table.insert(result, nodeId)
    end
  end
end
flush(job)
return result
