--[[
  An attempt succeeded, in ONE atomic step: its (already validated) outputs are recorded, the artifacts it
  staged are committed (in the job's list after every artifact committed before: lua/includes/artifact-order.lua),
  its dependants whose upstream nodes have all succeeded become QUEUED, and the job
  SUCCEEDS when every node has. A duplicate or stale completion (older attempt, finished node or job)
  changes nothing, so a redelivered report is harmless and a join becomes ready exactly once.
  A start report of the same attempt read in the same batch may be folded in (ARGV[9]): this step then does what
  startAttempt-5.lua would have done first (slot freed, node and job started, JOB_STARTED / NODE_STARTED events
  before the completion's), with the same result; a job that finishes in this step moves from the QUEUED index
  straight to SUCCEEDED. A completion applied before its attempt's start report (none folded, the node not yet
  RUNNING) starts the attempt the same way first (lua/includes/start.lua startFirst), as the completion tells it:
  its worker (ARGV[12]) and when it started (ARGV[13]); its dispatch slot is freed in this step too.
    KEYS[6] job artifacts set   KEYS[7] uncommitted artifacts zset   KEYS[8] the attempt's staged artifacts set
    KEYS[9] the job's artifact order index (REDIS_KEYS.jobArtifactOrder: one member per member of KEYS[6])
    KEYS[10] the tenants with uncommitted entries (REDIS_KEYS.uncommittedArtifactTenants)
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] outputs JSON   ARGV[7] artifact ids (JSON array)
    ARGV[8] artifact hash key prefix
    ARGV[9] worker id of a folded start report ('' = none)   ARGV[10] attempt id (the queue job id)
    ARGV[11] fair-stage key prefix ('' = the enqueuer frees slots itself)
    ARGV[12] worker id of the completion   ARGV[13] when its attempt started (ISO; '' = now)
    ARGV[14] expired-output mark key prefix (REDIS_KEYS.expiredArtifact(''))
    ARGV[15] a tenant's uncommitted index key prefix (REDIS_KEYS.tenantUncommittedArtifacts(''); '' = none): a
    committed artifact leaves its tenant's index (lua/includes/sweep-index) and the legacy global one (KEYS[7])
  Returns { 'ok', start, jobFinished (1|0), readyNodeId... } | { 'stale', start } | { 'bad_artifact', start,
  artifactId } | { 'expired_artifact', start, artifactId } (this attempt staged it, but the record was deleted
  before the commit: the orphan sweep's mark names this attempt's set) where start = { applied (1|0), released (1|0), fill (1|0), queuedAt or '', resourceClass or '' }
  of the folded start, or of the start this step applied first when none is folded, and with 'ok' a sixth,
  endFill (1|0): the attempt's occupancy ended and tenants wait at their share (lua/includes/common.lua endOccupancy)
  (a bad artifact writes nothing: the caller applies the start on its own, then fails the attempt).
]]
--@include common
--@include start
--@include artifact-order
--@include sweep-index
local jobArtifactsKey, uncommittedKey, attemptArtifactsKey, orderKey = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local uncommittedTenantsKey, tenantUncommittedPrefix = KEYS[10], ARGV[15] or ''
local nodeId, attempt, outputs = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local artifactIds = cjson.decode(ARGV[7])
local artifactPrefix = ARGV[8]
local startedBy, attemptId, fairPrefix = ARGV[9] or '', ARGV[10] or '', ARGV[11] or ''
local workerId, startedAt = ARGV[12] or '', ARGV[13] or ''
local expiredPrefix = ARGV[14] or ''

local job = hmgetTable(jobKey, JOB_STEP_FIELDS)
local node = hmgetTable(nodeKey(nodeId), { 'status', 'attempt', 'error', 'dependants', 'resourceClass', 'queuedAt' })
local current = isCurrentAttempt(job, node, attempt)
local start = noStart(node)

-- read and check everything before writing anything: all or nothing (Redis keeps a script's writes made before
-- an error, so nothing that can fail may come after the first write)
local dependants = current and cjson.decode(node.dependants or '[]') or {}
-- each artifact's fields, read once: its check, its order index member and its event need them
local artifacts = {}
if current then
  for _, id in ipairs(artifactIds) do
    local f = redis.call('HMGET', artifactPrefix .. id, 'state', 'tenant', 'createdAt', 'name')
    artifacts[id] = f
    local state = f[1]
    if state ~= 'staged' or redis.call('SISMEMBER', attemptArtifactsKey, id) == 0 then
      if not state and expiredPrefix ~= '' and redis.call('GET', expiredPrefix .. id) == attemptArtifactsKey then
        return { 'expired_artifact', start, id }
      end
      return { 'bad_artifact', start, id }
    end
  end
end
if startedBy ~= '' then
  -- the folded start frees the slot whatever the outcome, as startAttempt does
  start[2], start[3] = releaseDispatchSlot(fairPrefix, node.resourceClass, attemptId)
end
if not current then return { 'stale', start } end

local succeeded = tonumber(job.succeededCount or '0') + 1
local finishing = succeeded >= tonumber(job.nodeCount)
local nodeWrites = { 'status', 'SUCCEEDED', 'outputs', outputs, 'progress', 1, 'finishedAt', now }
if node.status ~= 'RUNNING' then
  -- the indexes of a job that finishes in this step go from QUEUED to SUCCEEDED directly
  if startedBy ~= '' then
    start[1], start[4] = 1, node.queuedAt or ''
    startAttemptOf(job, nodeId, startedBy, now, nodeWrites, finishing)
  else
    local by = { workerId = workerId, startedAt = startedAt ~= '' and startedAt or now, attemptId = attemptId,
      fairPrefix = fairPrefix }
    start = startFirst(job, nodeId, node, by, nodeWrites, finishing)
  end
end
-- the artifacts are committed after the start's events (a folded or implied start's come first): each one's place
-- in the job's list is the seq of its ARTIFACT_CREATED event (commitSeq, lua/includes/artifact-order.lua), so
-- the list is in commit order and what a later step commits comes after any cursor a client already holds
local committed = {}
for _, id in ipairs(artifactIds) do
  if not committed[id] then
    committed[id] = true
    local f = artifacts[id]
    local seq = appendEvent(job, 'ARTIFACT_CREATED', nodeId, nil, (f[4] or id) .. ' (' .. id .. ')')
    redis.call('HSET', artifactPrefix .. id, 'state', 'committed', 'committedAt', now, 'commitSeq', seq)
    -- the index gets a member exactly when the set does (a read tells an index left short by SCARD ~= ZCARD)
    if redis.call('SADD', jobArtifactsKey, id) == 1 then
      redis.call('ZADD', orderKey, 0, artifactOrderMember(id, 'committed', f[2], f[3], f[4], seq))
    end
    redis.call('ZREM', uncommittedKey, id)
    if tenantUncommittedPrefix ~= '' and f[2] then
      sweepIndexRemove(uncommittedTenantsKey, tenantUncommittedPrefix .. f[2], f[2], id)
    end
  end
end

redis.call('HSET', nodeKey(nodeId), unpack(nodeWrites))
if node.error then redis.call('HDEL', nodeKey(nodeId), 'error') end
appendEvent(job, 'NODE_SUCCEEDED', nodeId, 1)

-- the attempt's slot of its tenant's occupancy is free: start[6] = 1 when tenants wait at their share (the caller fills)
start[6] = endOccupancy(fairPrefix, node.resourceClass, attemptId, start[2] == 1 and start[3] == 1)
local result = { 'ok', start, 0 }
for _, d in ipairs(dependants) do
  local pending = redis.call('HINCRBY', nodeKey(d), 'pending', -1)
  if pending == 0 then
    local dn = nodeState(d)
    if dn.status == 'PENDING' then
      queueNode(job, d, nowMs, dn)
      table.insert(result, d)
    end
  end
end

setJob(job, 'succeededCount', succeeded)
addOpenNodes(job, -1)
if finishing then
  setJobStatus(job, 'SUCCEEDED')
  setJob(job, 'finishedAt', now)
  redis.call('SREM', activeKey, job.id)
  redis.call('ZADD', finishedKey, nowMs, job.id)
  appendEvent(job, 'JOB_SUCCEEDED')
  result[3] = 1
end
flush(job)
return result
