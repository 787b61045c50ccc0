--[[
  Retention: deletes a finished job and every key that belongs to it, in ONE atomic step, but only if it is
  still terminal and its entry in the finished index is at or before the cutoff. A retryJob that ran after the
  sweep selected it took it out of the index (and made it QUEUED), so it is kept: the retry wins.
    KEYS[6] tenant's jobs zset   KEYS[7] idempotency key (a never-used stand-in when the job has none)
    ARGV[4] job id   ARGV[5] cutoff (ms): finished at or before this is old   ARGV[6] tenant and ARGV[7]
            idempotency key the caller derived KEYS[6]/KEYS[7] from (checked against the job: they never change)
  Deleted: job hash, node hashes, event log (and a legacy event stream), cancelled marker, idempotency mapping (only while it names this
  job), tenant index entries (all jobs, by status, by template), dead-letter, active and finished index entries. Not touched: artifact keys (the
  artifacts subgraph's own retention reads them) and the tenant feed (a shared stream, trimmed by length).
  The node queues' (BullMQ) entries of its attempts are outside this script: the caller removes them after it.
  Returns { 'deleted', "nodeId|attempt|resourceClass"... } | { 'kept', reason } | { 'missing' }
]]
--@include common
local tenantJobsKey, idemKey = KEYS[6], KEYS[7]
local jobId, cutoffMs = ARGV[4], tonumber(ARGV[5])

local finishedMs = redis.call('ZSCORE', finishedKey, jobId)
if not finishedMs then return { 'kept', 'not_in_index' } end
local job = hgetall(jobKey)
if not job.status then
  -- nothing left to delete; drop the stale index entry so the sweep does not select it again
  redis.call('ZREM', finishedKey, jobId)
  return { 'missing' }
end
if not TERMINAL[job.status] then return { 'kept', 'not_terminal' } end
if tonumber(finishedMs) > cutoffMs then return { 'kept', 'recent' } end
if job.tenant ~= ARGV[6] or (job.idempotencyKey or '') ~= ARGV[7] then return { 'kept', 'keys_mismatch' } end

local result = { 'deleted' }
for _, nodeId in ipairs(cjson.decode(job.nodeIds or '[]')) do
  local n = redis.call('HMGET', nodeKey(nodeId), 'attempt', 'resourceClass')
  if n[1] and n[2] then table.insert(result, nodeId .. '|' .. n[1] .. '|' .. n[2]) end
  redis.call('DEL', nodeKey(nodeId))
end
-- ':events' is the event stream of jobs written before the event log became a list
redis.call('DEL', jobKey, jobKey .. ':log', jobKey .. ':events', cancelledKey)
if ARGV[7] ~= '' and redis.call('GET', idemKey) == jobId then redis.call('DEL', idemKey) end
redis.call('ZREM', tenantJobsKey, jobId)
indexJobStatus(job, job.status, nil)
if job.template then redis.call('ZREM', tenantPrefix(job) .. ':jobs:template:' .. job.template, jobId) end
redis.call('ZREM', deadLetterKey, jobId)
redis.call('SREM', activeKey, jobId)
redis.call('ZREM', finishedKey, jobId)
return result
