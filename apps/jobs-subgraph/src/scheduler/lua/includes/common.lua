--[[
  Shared by every transition script (inlined where a script says "--@include common", see defineScripts in #libs/redis).

  Conventions of every transition script:
    KEYS[1] job hash   KEYS[2] active jobs set   KEYS[3] dead-letter zset   KEYS[4] cancelledJobKey
    KEYS[5] finished jobs zset (score = finished at ms; what the retention sweep reads)
    ARGV[1] now (ISO)  ARGV[2] now (ms)          ARGV[3] cancel pub/sub channel
  Node hashes are "<job key>:node:<id>", the job's event log "<job key>:log", the tenant feed stream (and the
  tenant's wake-up channel) is the job hash's `feedKey`.

  Events: a step collects its events and job-field writes and ends with flush(job): ONE RPUSH of its events to
  the job's event log (a list: entry i is seq i + 1 + the number trimmed), ONE HSET of the job's fields and
  seq, ONE XADD to the tenant feed holding the step's JOB_* events in order (a field "e" each: a fast job's
  JOB_STARTED and JOB_SUCCEEDED share an entry), and ONE PUBLISH on the tenant channel whose message names
  the topics woken: the job id, and "feed" when the feed got an entry. An event is compact JSON
  { s = seq, t = type, a = at (ms), n = nodeId, p = progress, m = message } (feed entries add j = job id);
  the readers (events/event-log.ts) turn it into a JobEvent.

  Retention: a job's event log keeps the last EVENT_LOG_MAXLEN entries (trimmed in chunks of EVENT_LOG_SLACK,
  so trimming stays rare), a tenant feed about FEED_STREAM_MAXLEN (approximate MAXLEN trimming).
]]
local EVENT_LOG_MAXLEN = 10000
local EVENT_LOG_SLACK = 1000
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

-- Only the named fields of a hash, as a table (absent fields stay nil): a step reads what it uses, not the
-- whole record (a job hash holds its input, a node hash its inputs and outputs).
local function hmgetTable(key, fields)
  local v = redis.call('HMGET', key, unpack(fields))
  local t = {}
  for i, f in ipairs(fields) do
    if v[i] then t[f] = v[i] end
  end
  return t
end

-- The job fields a status step uses (its status and indexes, its event log, its counters).
local JOB_STEP_FIELDS = { 'id', 'status', 'seq', 'feedKey', 'template', 'createdMs', 'startedAt', 'nodeCount',
  'succeededCount' }

-- A worker took the attempt: its dispatch slot in the fair stage of class `rc` (layout: fair.lua) is free.
-- Returns released (1|0), fill (1|0: tenants wait in the ring for the room; the caller fills the window). A
-- retry whose backoff elapsed is not looked for: the dispatcher's timer for it (and the leader's pass) promotes
-- it and fills the window, which then has this room. No-op without a prefix (the enqueuer frees slots itself).
local function releaseDispatchSlot(fairPrefix, rc, attemptId)
  if not fairPrefix or fairPrefix == '' or not rc then return 0, 0 end
  local stage = fairPrefix .. rc
  if redis.call('ZREM', stage .. ':dispatched', attemptId) == 0 then return 0, 0 end
  if redis.call('LLEN', stage .. ':ring') > 0 then return 1, 1 end
  return 1, 0
end

--@include occupancy

-- The attempt ended (or was taken back): it no longer occupies a slot of its tenant in class `rc`'s fair stage
-- (fair.lua "Occupancy"; a ZREM of an attempt not counted is a no-op). `filling`: the caller's steps fill the
-- window anyway (a retry's enqueue, a removal, a start that freed a slot with tenants waiting). Otherwise the same
-- ZREM takes fair.lua's AT_SHARE mark: when it was there (a step found every tenant waiting at its share) and the
-- attempt was counted, returns 1: the caller fills the window, whose next attempt may be its tenant's again.
-- An attempt that was not counted takes the mark without a fill (ambiguous answer: 1 removed); the next start,
-- enqueue or leader pass fills the window then.
local function endOccupancy(fairPrefix, rc, attemptId, filling)
  if not fairPrefix or fairPrefix == '' or not rc then return 0 end
  local key = fairPrefix .. rc .. ':occupancy'
  if filling then
    redis.call('ZREM', key, attemptId)
    return 0
  end
  if redis.call('ZREM', key, attemptId, AT_SHARE) == 2 then return 1 end
  return 0
end


-- Messages are bounded by the contracts (JobError.message 4000, JobEvent.message 8000 characters).
local function clip(text, max)
  if #text <= max then return text end
  return string.sub(text, 1, max - 3) .. '...'
end

local function nodeKey(nodeId)
  return jobKey .. ':node:' .. nodeId
end

-- What this step writes to the job hash and its event log, written once by flush().
local jobWrites = {}
local eventLog = {}
local feedFields = {}

-- A job hash field, set in `job` now and in Redis by flush().
local function setJob(job, field, value)
  job[field] = value
  jobWrites[field] = value
end

-- The job's next event as a table, nothing taken or written yet: pushEvent appends it (a step that weighs an
-- event before appending it, appendLog-5.lua, makes it with this; nothing else may append in between).
local function nextEvent(job, evType, nodeId, progress, message)
  local ev = { s = tonumber(job.seq or '0') + 1, t = evType, a = nowMs }
  if nodeId then ev.n = nodeId end
  if progress then ev.p = progress end
  if message and message ~= '' then ev.m = clip(message, 8000) end
  return ev
end

-- Appends an event of nextEvent (`entry`: its JSON, when the caller already encoded it) and takes its seq.
local function pushEvent(job, ev, entry)
  setJob(job, 'seq', ev.s)
  table.insert(eventLog, entry or cjson.encode(ev))
  if string.sub(ev.t, 1, 4) == 'JOB_' then
    ev.j = job.id
    table.insert(feedFields, 'e')
    table.insert(feedFields, cjson.encode(ev))
  end
  return ev.s
end

-- seq comes from the job hash, in the same atomic step as the transition: contiguous from 1, never reused.
local function appendEvent(job, evType, nodeId, progress, message)
  return pushEvent(job, nextEvent(job, evType, nodeId, progress, message))
end

-- The job's log budget is spent (appendLog, recordProgress): ONE LOG event says so (not counted), and the job's
-- hash remembers it, so its later log lines are dropped and its progress messages left out.
local function truncateLog(job, nodeId, maxBytes)
  setJob(job, 'logTruncated', 1)
  appendEvent(job, 'LOG', nodeId, nil, '[warn] log truncated: this job\'s log events reached its budget of '
    .. maxBytes .. ' bytes (JOB_LOG_MAX_BYTES); its further log lines are dropped and its progress messages left out')
end

-- Writes what the step collected (see the header); call it once, last, when the job exists.
local function flush(job)
  local fields = {}
  for k, v in pairs(jobWrites) do
    table.insert(fields, k)
    table.insert(fields, tostring(v))
  end
  if #fields > 0 then redis.call('HSET', jobKey, unpack(fields)) end
  if #eventLog > 0 then
    local logKey = jobKey .. ':log'
    local len = redis.call('RPUSH', logKey, unpack(eventLog))
    if len > EVENT_LOG_MAXLEN + EVENT_LOG_SLACK then redis.call('LTRIM', logKey, -EVENT_LOG_MAXLEN, -1) end
    if #feedFields > 0 then
      redis.call('XADD', job.feedKey, 'MAXLEN', '~', FEED_STREAM_MAXLEN, '*', unpack(feedFields))
    end
    redis.call('PUBLISH', job.feedKey, #feedFields > 0 and (job.id .. ' feed') or job.id)
  end
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
    local createdMs = job.createdMs or redis.call('ZSCORE', prefix .. ':jobs', job.id) or nowMs
    redis.call('ZADD', prefix .. ':jobs:status:' .. to, createdMs, job.id)
    if byTemplate then redis.call('ZADD', byTemplate .. ':status:' .. to, createdMs, job.id) end
  end
end

-- The job's status in its hash and in its tenant's indexes, together.
local function setJobStatus(job, to)
  indexJobStatus(job, job.status, to)
  setJob(job, 'status', to)
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

-- nil when a tenant whose artifacts hold `bytes` bytes in `count` records may add work (TENANT_MAX_STORED_BYTES,
-- TENANT_MAX_ARTIFACTS; 0 = off), else the refusal as quotaRefusal's: at or over a quota (used >= max), requested 0
-- (a job reserves no artifact up front; its outputs count when staged and are never refused).
local function artifactQuotaRefusal(maxBytes, maxArtifacts, bytes, count)
  if maxBytes > 0 and bytes >= maxBytes then return { 'quota', 'storedBytes', maxBytes, bytes, 0 } end
  if maxArtifacts > 0 and count >= maxArtifacts then return { 'quota', 'artifacts', maxArtifacts, count, 0 } end
  return nil
end

-- A node becomes runnable: a new attempt number (attempt ids are never reused, so reports of older attempts
-- are recognisably stale), and the time from which schedule-to-start is measured.
local ATTEMPT_FIELDS = { 'error', 'message', 'workerId', 'startedAt', 'runStartedAt', 'finishedAt' }

-- The node fields queueNode needs (status, attempt and the attempt fields it clears), as a table.
local function nodeState(nodeId)
  local v = redis.call('HMGET', nodeKey(nodeId), 'status', 'attempt', unpack(ATTEMPT_FIELDS))
  local t = { status = v[1] or nil, attempt = v[2] or nil }
  for i, f in ipairs(ATTEMPT_FIELDS) do
    if v[i + 2] then t[f] = v[i + 2] end
  end
  return t
end

-- `node`: the node's fields as read in this step (its hash, or nodeState), so nothing is read again.
local function queueNode(job, nodeId, eligibleAtMs, node)
  local nk = nodeKey(nodeId)
  local attempt = tonumber(node.attempt or '0') + 1
  redis.call('HSET', nk, 'attempt', attempt, 'status', 'QUEUED', 'queuedAt', eligibleAtMs, 'progress', 0)
  local stale = {}
  for _, f in ipairs(ATTEMPT_FIELDS) do
    if node[f] then table.insert(stale, f) end
  end
  if #stale > 0 then redis.call('HDEL', nk, unpack(stale)) end
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
  What ending a job reads, read and decoded before anything is written (Redis keeps the writes a script made
  before an error, so corrupt state must stop the step before its first write): the nodes downstream of
  failedNodeId, and every other node's status, attempt and resource class. failedNodeId (the node the caller
  fails in the same step) is left out: the caller writes its end.
]]
local function readForFinish(job, failedNodeId)
  local nodes = {}
  for _, nodeId in ipairs(cjson.decode(job.nodeIds)) do
    if nodeId ~= failedNodeId then
      local n = redis.call('HMGET', nodeKey(nodeId), 'status', 'attempt', 'resourceClass')
      if LIVE[n[1]] and not (n[2] and n[3]) then
        error('node ' .. nodeId .. ' of job ' .. job.id .. ' is ' .. n[1] .. ' without an attempt or resource class')
      end
      table.insert(nodes, { id = nodeId, status = n[1], attempt = n[2], resourceClass = n[3] })
    end
  end
  return { downstream = failedNodeId and downstreamOf(failedNodeId) or {}, nodes = nodes }
end

--[[
  Ends a job, from what readForFinish read. Every node not yet terminal is CANCELLED (UPSTREAM_FAILED for the
  nodes downstream of the failed node, CANCELLED for the rest), the job gets its terminal status, error and
  event, leaves the active set and enters the finished index, FAILED jobs enter the dead-letter set, and workers
  are told to stop (marker key + CancelNotice).
  Returns the attempts that were live ("nodeId|attempt|resourceClass") so the caller removes their queue entries.
]]
local function finishJob(job, status, errorJson, reason, read)
  local live = {}
  for _, n in ipairs(read.nodes) do
    if not TERMINAL[n.status] then
      if LIVE[n.status] then table.insert(live, n.id .. '|' .. n.attempt .. '|' .. n.resourceClass) end
      local code = read.downstream[n.id] and 'UPSTREAM_FAILED' or 'CANCELLED'
      local nodeError = cjson.encode({ code = code, message = clip(reason, 4000), retryable = false })
      redis.call('HSET', nodeKey(n.id), 'status', 'CANCELLED', 'error', nodeError, 'finishedAt', now)
      appendEvent(job, 'NODE_CANCELLED', n.id, nil, reason)
    end
  end
  addOpenNodes(job, -(tonumber(job.nodeCount) - tonumber(job.succeededCount or '0')))
  setJobStatus(job, status)
  setJob(job, 'finishedAt', now)
  if errorJson then setJob(job, 'error', errorJson) end
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
