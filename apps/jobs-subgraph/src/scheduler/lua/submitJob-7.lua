--[[
  Writes a planned job and its nodes in one atomic step, or returns the job an earlier submit with the same
  idempotency key (per tenant) created.
    KEYS[6] idempotency key (string -> job id; a never-used stand-in when the job has none)   KEYS[7] tenant's jobs (zset by createdAt ms)
    ARGV[4] job id   ARGV[5] job fields (flat JSON object)   ARGV[6] nodes (JSON array of flat objects; `pending`
            = number of upstream nodes)   ARGV[7] the tenant's max unfinished jobs   ARGV[8] its max open nodes
  Quotas are checked here, in the same step that writes, so concurrent submits cannot both pass; a refusal
  writes nothing. An idempotent repeat returns the existing job whatever the quotas.
  Returns { jobId, created (1|0), readyNodeId... } | { 'quota', -1, name, max, used, requested }
]]
--@include common
local idemKey = KEYS[6]
local tenantJobsKey = KEYS[7]
local jobId = ARGV[4]
local fields = cjson.decode(ARGV[5])
local hasIdemKey = fields.idempotencyKey ~= nil and fields.idempotencyKey ~= ''

if hasIdemKey then
  local existing = redis.call('GET', idemKey)
  if existing then return { existing, 0 } end
end

local nodes = cjson.decode(ARGV[6])
local refusal = quotaRefusal(string.sub(fields.feedKey, 1, #fields.feedKey - 5), tonumber(ARGV[7]),
  tonumber(ARGV[8]), 1, #nodes)
if refusal then return { refusal[1], -1, refusal[2], refusal[3], refusal[4], refusal[5] } end
local flat = { 'id', jobId, 'status', 'QUEUED', 'createdAt', now, 'seq', 0 }
for k, v in pairs(fields) do
  table.insert(flat, k)
  table.insert(flat, tostring(v))
end
redis.call('HSET', jobKey, unpack(flat))
for _, node in ipairs(nodes) do
  local nflat = { 'status', 'PENDING', 'attempt', 0, 'failures', 0, 'progress', 0 }
  for k, v in pairs(node) do
    table.insert(nflat, k)
    table.insert(nflat, tostring(v))
  end
  redis.call('HSET', nodeKey(node.id), unpack(nflat))
end
if hasIdemKey then redis.call('SET', idemKey, jobId) end
redis.call('ZADD', tenantJobsKey, nowMs, jobId)
redis.call('SADD', activeKey, jobId)

local job = hgetall(jobKey)
indexJobStatus(job, nil, 'QUEUED')
if job.template then redis.call('ZADD', tenantPrefix(job) .. ':jobs:template:' .. job.template, nowMs, jobId) end
addOpenNodes(job, #nodes)
appendEvent(job, 'JOB_QUEUED')
local result = { jobId, 1 }
for _, node in ipairs(nodes) do
  if tonumber(node.pending) == 0 then
    queueNode(job, node.id, nowMs)
    table.insert(result, node.id)
  end
end
return result
