--[[
  An attempt succeeded, in ONE atomic step: its (already validated) outputs are recorded, the artifacts it
  staged are committed, its dependants whose upstream nodes have all succeeded become QUEUED, and the job
  SUCCEEDS when every node has. A duplicate or stale completion (older attempt, finished node or job)
  changes nothing, so a redelivered report is harmless and a join becomes ready exactly once.
    KEYS[6] job artifacts set   KEYS[7] uncommitted artifacts zset   KEYS[8] the attempt's staged artifacts set
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] outputs JSON   ARGV[7] artifact ids (JSON array)
    ARGV[8] artifact hash key prefix
  Returns { 'ok', jobFinished (1|0), readyNodeId... } | { 'stale' } | { 'bad_artifact', artifactId }
]]
--@include common
local jobArtifactsKey, uncommittedKey, attemptArtifactsKey = KEYS[6], KEYS[7], KEYS[8]
local nodeId, attempt, outputs = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local artifactIds = cjson.decode(ARGV[7])
local artifactPrefix = ARGV[8]

local job = hmgetTable(jobKey, JOB_STEP_FIELDS)
local node = hmgetTable(nodeKey(nodeId), { 'status', 'attempt', 'error', 'dependants' })
if not isCurrentAttempt(job, node, attempt) then return { 'stale' } end

-- check every artifact before writing anything: all or nothing
for _, id in ipairs(artifactIds) do
  local state = redis.call('HGET', artifactPrefix .. id, 'state')
  if state ~= 'staged' or redis.call('SISMEMBER', attemptArtifactsKey, id) == 0 then
    return { 'bad_artifact', id }
  end
end
for _, id in ipairs(artifactIds) do
  redis.call('HSET', artifactPrefix .. id, 'state', 'committed')
  redis.call('SADD', jobArtifactsKey, id)
  redis.call('ZREM', uncommittedKey, id)
  local name = redis.call('HGET', artifactPrefix .. id, 'name') or id
  appendEvent(job, 'ARTIFACT_CREATED', nodeId, nil, name .. ' (' .. id .. ')')
end

redis.call('HSET', nodeKey(nodeId), 'status', 'SUCCEEDED', 'outputs', outputs, 'progress', 1, 'finishedAt', now)
if node.error then redis.call('HDEL', nodeKey(nodeId), 'error') end
appendEvent(job, 'NODE_SUCCEEDED', nodeId, 1)
if job.status == 'QUEUED' then
  -- a completion can overtake its start report only if the start was lost; the job still ran
  setJobStatus(job, 'RUNNING')
  setJob(job, 'startedAt', job.startedAt or now)
  appendEvent(job, 'JOB_STARTED')
end

local result = { 'ok', 0 }
for _, d in ipairs(cjson.decode(node.dependants or '[]')) do
  local pending = redis.call('HINCRBY', nodeKey(d), 'pending', -1)
  if pending == 0 then
    local dn = nodeState(d)
    if dn.status == 'PENDING' then
      queueNode(job, d, nowMs, dn)
      table.insert(result, d)
    end
  end
end

local succeeded = tonumber(job.succeededCount or '0') + 1
setJob(job, 'succeededCount', succeeded)
addOpenNodes(job, -1)
if succeeded >= tonumber(job.nodeCount) then
  setJobStatus(job, 'SUCCEEDED')
  setJob(job, 'finishedAt', now)
  redis.call('SREM', activeKey, job.id)
  redis.call('ZADD', finishedKey, nowMs, job.id)
  appendEvent(job, 'JOB_SUCCEEDED')
  result[2] = 1
end
flush(job)
return result
