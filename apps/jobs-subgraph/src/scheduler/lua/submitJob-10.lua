--[[
  Writes a planned job and its nodes in one atomic step, or returns the job an earlier submit with the same
  idempotency key (per tenant) created.
    KEYS[6] idempotency key (string -> job id; a never-used stand-in when the job has none)   KEYS[7] tenant's jobs (zset by createdAt ms)
    KEYS[8] output schemas (hash: schema ref -> output schema JSON; a node keeps only its `outputSchemaRef`)
    KEYS[9] the tenant's artifact bytes counter   KEYS[10] its artifact-record counter (both written by
            libs/storage: createUpload, staged outputs, deletions; REDIS_KEYS.tenantStoredBytes / tenantArtifacts)
    ARGV[4] job id   ARGV[5] job fields (flat JSON object)   ARGV[6] nodes (JSON array of flat objects; `pending`
            = number of upstream nodes)   ARGV[7] the tenant's max unfinished jobs   ARGV[8] its max open nodes
    ARGV[9] the nodes' output schemas (JSON object: ref -> schema JSON), written once per ref (never changed)
    ARGV[10] fair-stage key prefix ("<prefix>:fair:"; empty: every root node is left to the enqueuer)
    ARGV[11] the stage's minimum dispatch window
    ARGV[12] the roots' fair-stage entries (JSON object: node id -> FairEntry JSON; a root without one is left
             to the enqueuer when it gets no slot)
    ARGV[13] the tenant's max artifact bytes (TENANT_MAX_STORED_BYTES; 0 = off)
    ARGV[14] its max artifact records (TENANT_MAX_ARTIFACTS; 0 = off)
  Quotas are checked here, in the same step that writes, so concurrent submits cannot both pass; a refusal
  writes nothing. An idempotent repeat returns the existing job whatever the quotas. The artifact quotas refuse
  a tenant already at or over them (used >= max, requested 0): a job reserves no artifact up front, and its
  outputs are counted when staged, never refused.
  Every string this step may read (the idempotency key, the artifact counters, the fair-stage capacity of the
  first root's class) is read with ONE MGET when any of them is needed (issue 12: no command per quota).
  The fair stage's fast path is taken here for the root nodes: when no tenant waits in the class's ring, no
  retry there is due and the window has room, the root node's first attempt takes a dispatch slot in this step
  (exactly what fairEnqueue-5.lua's dispatchAtOnce would do next; the attempt is current by construction), and
  the caller adds it to the node queue directly. A crash before that add is repaired like one between a
  dispatch and its add: the reconciler enqueues the QUEUED node again and the stage answers 'dispatched'.
  A root that gets no slot is held in the stage in this step when it has an entry (what fairEnqueue-5.lua does
  with an attempt ready now: its tenant's ready set, the ring); the caller fills the window of its class when
  the window has room or a retry there is due (fairDispatch), as fairEnqueue would have in its step.
  Returns { jobId, 1, { readyNodeId... }, { dispatchedNodeId... }, { heldNodeId... }, { classToFill... },
    { classToTakeBackIn... } (a tenant joined the ring under its share behind a full window: fairDispatch with its
    take-back look, fair.lua takeBackCandidates),
  job hash (flat), node hash (flat)... in plan order } for a new job (the hashes exactly as written, so the
  caller need not read them back), { jobId, 0 } for an idempotent repeat,
  { 'quota', -1, name, max, used, requested } for a refusal.
]]
--@include common
local idemKey = KEYS[6]
local tenantJobsKey = KEYS[7]
local schemasKey = KEYS[8]
local jobId = ARGV[4]
local fields = cjson.decode(ARGV[5])
local hasIdemKey = fields.idempotencyKey ~= nil and fields.idempotencyKey ~= ''

local nodes = cjson.decode(ARGV[6])
local fairPrefix, minWindow = ARGV[10] or '', tonumber(ARGV[11] or '0') or 0
local maxBytes, maxArtifacts = tonumber(ARGV[13] or '0') or 0, tonumber(ARGV[14] or '0') or 0
local artifactQuotas = maxBytes > 0 or maxArtifacts > 0

-- The strings to read, in one MGET; the capacity rides along only when the MGET is made anyway (see roomOf).
local reads, at = {}, {}
local function toRead(name, key)
  table.insert(reads, key)
  at[name] = #reads
end
if hasIdemKey then toRead('idem', idemKey) end
if artifactQuotas then
  toRead('bytes', KEYS[9])
  toRead('artifacts', KEYS[10])
end
local prefetchedCapacity = {}
if #reads > 0 and fairPrefix ~= '' then
  for _, node in ipairs(nodes) do
    if tonumber(node.pending) == 0 and node.resourceClass then
      toRead('capacity', fairPrefix .. node.resourceClass .. ':capacity')
      break
    end
  end
end
local values = #reads > 0 and redis.call('MGET', unpack(reads)) or {}
local function readValue(name)
  local v = at[name] and values[at[name]]
  if v == false then return nil end
  return v
end
if at.capacity then prefetchedCapacity[reads[at.capacity]] = readValue('capacity') or '0' end

if hasIdemKey then
  local existing = readValue('idem')
  if existing then return { existing, 0 } end
end

local refusal = quotaRefusal(string.sub(fields.feedKey, 1, #fields.feedKey - 5), tonumber(ARGV[7]),
  tonumber(ARGV[8]), 1, #nodes)
if refusal then return { refusal[1], -1, refusal[2], refusal[3], refusal[4], refusal[5] } end
if artifactQuotas then
  local over = artifactQuotaRefusal(maxBytes, maxArtifacts, tonumber(readValue('bytes') or '0') or 0,
    tonumber(readValue('artifacts') or '0') or 0)
  if over then return { over[1], -1, over[2], over[3], over[4], over[5] } end
end
-- the job as it is written (flush() writes its fields with the first events): nothing is read back
local job = { id = jobId, status = 'QUEUED', createdAt = now, createdMs = nowMs, seq = 0 }
for k, v in pairs(fields) do job[k] = tostring(v) end
for k, v in pairs(job) do jobWrites[k] = v end
for ref, schema in pairs(cjson.decode(ARGV[9])) do redis.call('HSETNX', schemasKey, ref, schema) end
local entries = cjson.decode(ARGV[12] or '{}')
local ready, dispatched, held, fill, takeBack = {}, {}, {}, {}, {}
local result = { jobId, 1, ready, dispatched, held, fill, takeBack, {} }

-- Per class, read once: whether tenants wait in the ring, else whether a retry is due (with tenants waiting a
-- due retry changes nothing here: the root is held either way, and the retry's timer promotes it), the room.
local stages = {}
local function stageOf(rc)
  local st = stages[rc]
  if st then return st end
  local key = fairPrefix .. rc
  st = { key = key, due = false, waiting = redis.call('LLEN', key .. ':ring') > 0 }
  if not st.waiting then
    local first = redis.call('ZRANGE', key .. ':delayed', 0, 0, 'WITHSCORES')
    st.due = first[2] ~= nil and tonumber(first[2]) <= nowMs
    st.waiting = st.due
  end
  stages[rc] = st
  return st
end
local function roomOf(st)
  if st.room == nil then
    local capacityKey = st.key .. ':capacity'
    local capacity = tonumber(prefetchedCapacity[capacityKey] or redis.call('GET', capacityKey) or '0') or 0
    st.room = math.max(minWindow, capacity) - redis.call('ZCARD', st.key .. ':dispatched')
  end
  return st.room
end

-- fair.lua's readyScore: higher job priority first, then earlier (2^42 ms time span per priority step)
local function readyScore(priority, atMs)
  local p = math.max(0, math.min(1000, tonumber(priority) or 0))
  return (1000 - p) * 4398046511104 + atMs
end

-- A root's first attempt in the fair stage: a dispatch slot when nothing waits and the window has room
-- (fair.lua's dispatchAtOnce: the attempt is current by construction), else held when it has an entry.
local function placeRoot(node)
  if fairPrefix == '' or not node.resourceClass then return end
  local st = stageOf(node.resourceClass)
  local attemptId = jobId .. '.' .. node.id .. '.1'
  if not st.waiting and roomOf(st) > 0 then
    st.room = st.room - 1
    redis.call('ZADD', st.key .. ':dispatched', nowMs, attemptId)
    -- it occupies a slot of its tenant from now until it ends (fair.lua "Occupancy")
    redis.call('ZADD', st.key .. ':occupancy', occupancyScore(job.tenant), attemptId)
    table.insert(dispatched, node.id)
    return
  end
  local raw = entries[node.id]
  if not raw then return end
  local entry = cjson.decode(raw)
  redis.call('HSET', st.key .. ':held', attemptId, raw)
  local readyKey = st.key .. ':ready:' .. entry.tenant
  local joins = redis.call('ZCARD', readyKey) == 0
  if joins then redis.call('RPUSH', st.key .. ':ring', entry.tenant) end
  redis.call('ZADD', readyKey, readyScore(entry.priority, nowMs), attemptId)
  st.waiting = true
  table.insert(held, node.id)
  if (st.due or roomOf(st) > 0) and not st.fill then
    st.fill = true
    table.insert(fill, node.resourceClass)
  elseif joins and not st.fill and not st.takeBack and roomOf(st) <= 0 then
    -- the tenant joined the ring behind a full window: under its share, the dispatcher's fill looks for attempts
    -- of tenants beyond theirs to take back (fair.lua takeBackCandidates); a tenant at its share (one alone
    -- refilling its own window) costs this ZCOUNT, no round trip
    local capacity = tonumber(prefetchedCapacity[st.key .. ':capacity'] or redis.call('GET', st.key .. ':capacity') or '0') or 0
    -- the live actors; unknown, the window (as fair.lua's pick counts them)
    local actors = capacity > 0 and capacity or minWindow
    local share = math.ceil(actors / math.max(1, redis.call('LLEN', st.key .. ':ring')))
    local score = occupancyScore(entry.tenant)
    if redis.call('ZCOUNT', st.key .. ':occupancy', score, score) < share then
      st.takeBack = true
      table.insert(takeBack, node.resourceClass)
    end
  end
end
for _, node in ipairs(nodes) do
  -- a root node is written QUEUED with its first attempt at once (what queueNode does to a waiting node)
  local root = tonumber(node.pending) == 0
  local nflat = { 'status', root and 'QUEUED' or 'PENDING', 'attempt', root and 1 or 0, 'failures', 0, 'progress', 0 }
  if root then
    table.insert(nflat, 'queuedAt')
    table.insert(nflat, nowMs)
  end
  for k, v in pairs(node) do
    table.insert(nflat, k)
    table.insert(nflat, tostring(v))
  end
  redis.call('HSET', nodeKey(node.id), unpack(nflat))
  table.insert(result, nflat)
end
if hasIdemKey then redis.call('SET', idemKey, jobId) end
redis.call('ZADD', tenantJobsKey, nowMs, jobId)
redis.call('SADD', activeKey, jobId)

indexJobStatus(job, nil, 'QUEUED')
if job.template then redis.call('ZADD', tenantPrefix(job) .. ':jobs:template:' .. job.template, nowMs, jobId) end
addOpenNodes(job, #nodes)
appendEvent(job, 'JOB_QUEUED')
for _, node in ipairs(nodes) do
  if tonumber(node.pending) == 0 then
    appendEvent(job, 'NODE_QUEUED', node.id)
    table.insert(ready, node.id)
    placeRoot(node)
  end
end
flush(job)
for k, v in pairs(job) do
  table.insert(result[8], k)
  table.insert(result[8], tostring(v))
end
return result
