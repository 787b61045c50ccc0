--[[
  Shared by every transition script (inlined where a script says "--@include common", see defineScripts in #libs/redis).

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

--[[
  Per-tenant indexes and usage, kept exact by the same step that changes a job's status (the quotas and the
  `jobs(filter:)` reads rely on them). The tenant's key prefix is its feed key less ":feed" (keys.ts builds both).
    <tenant>:jobs:status:<STATUS>                   zset: job ids by createdAt ms
    <tenant>:jobs:template:<name>                   zset: jobs made from that template, by createdAt ms
    <tenant>:jobs:template:<name>:status:<STATUS>   zset: both filters at once
    <tenant>:usage                                  hash: openNodes = unfinished nodes of the tenant's unfinished jobs
  Unfinished jobs (the active-jobs quota) = ZCARD of the QUEUED and RUNNING status indexes.
]]
local function tenantPrefix(job)
  return string.sub(job.feedKey, 1, #job.feedKey - 5)
end

local function addOpenNodes(job, delta)
  if delta ~= 0 then redis.call('HINCRBY', tenantPrefix(job) .. ':usage', 'openNodes', delta) end
end

-- Moves the job from status `from` (nil: none yet) to status `to` (nil: out of every index) in its tenant's indexes.
local function indexJobStatus(job, from, to)
  local prefix = tenantPrefix(job)
  local byTemplate = job.template and (prefix .. ':jobs:template:' .. job.template) or nil
  if from then
    redis.call('ZREM', prefix .. ':jobs:status:' .. from, job.id)
    if byTemplate then redis.call('ZREM', byTemplate .. ':status:' .. from, job.id) end
  end
  if to then
    local createdMs = redis.call('ZSCORE', prefix .. ':jobs', job.id) or nowMs
    redis.call('ZADD', prefix .. ':jobs:status:' .. to, createdMs, job.id)
    if byTemplate then redis.call('ZADD', byTemplate .. ':status:' .. to, createdMs, job.id) end
  end
end

-- The job's status in its hash and in its tenant's indexes, together.
local function setJobStatus(job, to)
  redis.call('HSET', jobKey, 'status', to)
  indexJobStatus(job, job.status, to)
  job.status = to
end

-- Non-terminal jobs of the tenant (QUEUED or RUNNING).
local function activeJobCount(prefix)
  return redis.call('ZCARD', prefix .. ':jobs:status:QUEUED') + redis.call('ZCARD', prefix .. ':jobs:status:RUNNING')
end

-- nil when `jobs` more jobs with `nodes` more open nodes fit the tenant's quotas, else the refusal
-- { 'quota', name, max, used, requested }.
local function quotaRefusal(prefix, maxActiveJobs, maxOpenNodes, jobs, nodes)
  local active = activeJobCount(prefix)
  if active + jobs > maxActiveJobs then return { 'quota', 'activeJobs', maxActiveJobs, active, jobs } end
  local open = tonumber(redis.call('HGET', prefix .. ':usage', 'openNodes') or '0')
  if open + nodes > maxOpenNodes then return { 'quota', 'queuedNodes', maxOpenNodes, open, nodes } end
  return nil
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
  addOpenNodes(job, -(tonumber(job.nodeCount) - tonumber(redis.call('HGET', jobKey, 'succeededCount') or '0')))
  setJobStatus(job, status)
  redis.call('HSET', jobKey, 'finishedAt', now)
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
