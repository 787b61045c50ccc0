--[[
  Shared by every transition script (inlined by scripts.ts at "--@include common").

  Conventions of every transition script:
    KEYS[1] job hash   KEYS[2] active jobs set   KEYS[3] dead-letter zset   KEYS[4] cancelledJobKey
    KEYS[5] finished jobs zset (score = finished at ms; what the retention sweep reads)
    ARGV[1] now (ISO)  ARGV[2] now (ms)          ARGV[3] cancel pub/sub channel
  Node hashes are "<job key>:node:<id>", the job's event stream (and its wake-up channel) "<job key>:events",
  the tenant feed stream (and channel) is the job hash's `feedKey`.

  Retention: a job's event stream keeps about EVENT_STREAM_MAXLEN entries, a tenant feed about
  FEED_STREAM_MAXLEN (approximate MAXLEN trimming, so trimming stays O(1)).
]]
local EVENT_STREAM_MAXLEN = 10000
local FEED_STREAM_MAXLEN = 10000
-- A cancelled or failed job's marker outlives any attempt a worker could still hold.
local CANCELLED_MARKER_TTL_S = 7 * 24 * 3600

local jobKey = KEYS[1]
local activeKey = KEYS[2]
local deadLetterKey = KEYS[3]
local cancelledKey = KEYS[4]
local finishedKey = KEYS[5]
local now = ARGV[1]
local nowMs = tonumber(ARGV[2])
local cancelChannel = ARGV[3]

local TERMINAL = { SUCCEEDED = true, FAILED = true, CANCELLED = true }
local LIVE = { QUEUED = true, RUNNING = true, RETRYING = true }

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do
    t[flat[i]] = flat[i + 1]
  end
  return t
end

-- Messages are bounded by the contracts (JobError.message 4000, JobEvent.message 8000 characters).
local function clip(text, max)
  if #text <= max then return text end
  return string.sub(text, 1, max - 3) .. '...'
end

local function nodeKey(nodeId)
  return jobKey .. ':node:' .. nodeId
end

-- seq comes from the job hash, in the same atomic step as the transition: contiguous from 1, never reused.
-- The stream entry id is 0-<seq>, so a cursor maps to a stream position without a lookup.
local function appendEvent(job, evType, nodeId, progress, message)
  local seq = redis.call('HINCRBY', jobKey, 'seq', 1)
  local ev = { seq = seq, jobId = job.id, tenant = job.tenant, type = evType, at = now }
  if nodeId then ev.nodeId = nodeId end
  if progress then ev.progress = progress end
  if message and message ~= '' then ev.message = clip(message, 8000) end
  local json = cjson.encode(ev)
  local stream = jobKey .. ':events'
  redis.call('XADD', stream, 'MAXLEN', '~', EVENT_STREAM_MAXLEN, '0-' .. seq, 'e', json)
  redis.call('PUBLISH', stream, seq)
  if string.sub(evType, 1, 4) == 'JOB_' then
    redis.call('XADD', job.feedKey, 'MAXLEN', '~', FEED_STREAM_MAXLEN, '*', 'e', json)
    redis.call('PUBLISH', job.feedKey, seq)
  end
  return seq
end

-- A node becomes runnable: a new attempt number (attempt ids are never reused, so reports of older attempts
-- are recognisably stale), and the time from which schedule-to-start is measured.
local function queueNode(job, nodeId, eligibleAtMs)
  local attempt = redis.call('HINCRBY', nodeKey(nodeId), 'attempt', 1)
  redis.call('HSET', nodeKey(nodeId), 'status', 'QUEUED', 'queuedAt', eligibleAtMs, 'progress', 0)
  redis.call('HDEL', nodeKey(nodeId), 'error', 'message', 'workerId', 'startedAt', 'finishedAt')
  appendEvent(job, 'NODE_QUEUED', nodeId)
  return attempt
end

-- Every node reachable downstream of nodeId.
local function downstreamOf(nodeId)
  local seen, queue = {}, { nodeId }
  while #queue > 0 do
    local current = table.remove(queue)
    for _, d in ipairs(cjson.decode(redis.call('HGET', nodeKey(current), 'dependants') or '[]')) do
      if not seen[d] then
        seen[d] = true
        table.insert(queue, d)
      end
    end
  end
  return seen
end

--[[
  Ends a job. Every node not yet terminal is CANCELLED (UPSTREAM_FAILED for the nodes downstream of
  failedNodeId, CANCELLED for the rest), the job gets its terminal status, error and event, leaves the active
  set and enters the finished index, FAILED jobs enter the dead-letter set, and workers are told to stop (marker key + CancelNotice).
  Returns the attempts that were live ("nodeId|attempt|resourceClass") so the caller removes their queue entries.
]]
local function finishJob(job, status, errorJson, reason, failedNodeId)
  local downstream = failedNodeId and downstreamOf(failedNodeId) or {}
  local live = {}
  for _, nodeId in ipairs(cjson.decode(job.nodeIds)) do
    local nk = nodeKey(nodeId)
    local n = redis.call('HMGET', nk, 'status', 'attempt', 'resourceClass')
    if not TERMINAL[n[1]] then
      if LIVE[n[1]] then table.insert(live, nodeId .. '|' .. n[2] .. '|' .. n[3]) end
      local code = downstream[nodeId] and 'UPSTREAM_FAILED' or 'CANCELLED'
      local nodeError = cjson.encode({ code = code, message = clip(reason, 4000), retryable = false })
      redis.call('HSET', nk, 'status', 'CANCELLED', 'error', nodeError, 'finishedAt', now)
      appendEvent(job, 'NODE_CANCELLED', nodeId, nil, reason)
    end
  end
  redis.call('HSET', jobKey, 'status', status, 'finishedAt', now)
  if errorJson then redis.call('HSET', jobKey, 'error', errorJson) end
  redis.call('SREM', activeKey, job.id)
  redis.call('ZADD', finishedKey, nowMs, job.id)
  if status == 'FAILED' then redis.call('ZADD', deadLetterKey, nowMs, job.id) end
  redis.call('SET', cancelledKey, reason, 'EX', CANCELLED_MARKER_TTL_S)
  if #live > 0 then
    redis.call('PUBLISH', cancelChannel, cjson.encode({ jobId = job.id, reason = reason }))
  end
  appendEvent(job, 'JOB_' .. status, nil, nil, reason)
  return live
end

-- The attempt a report names is the node's current one, and neither node nor job is finished.
local function isCurrentAttempt(job, node, attempt)
  return job.status ~= nil and not TERMINAL[job.status] and node.status ~= nil and not TERMINAL[node.status]
    and tonumber(node.attempt) == attempt
end
