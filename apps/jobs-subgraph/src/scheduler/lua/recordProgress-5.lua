--[[
  Progress of a running attempt. A progress of the node's current attempt applied before the attempt's `started`
  report (the node not yet RUNNING: reports applied out of order, see lua/includes/start.lua) starts the attempt
  first (startFirst): a progress is sent only by a running attempt, and names its worker; the attempt started by
  the progress's `at` at the latest. Then JOB_STARTED / NODE_STARTED come before NODE_PROGRESS, and the late
  `started` report is stale.
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] progress 0..1   ARGV[7] message ('' = none)
    ARGV[8] worker id   ARGV[9] when the attempt started at the latest (ISO)
    ARGV[10] attempt id (the queue job id)   ARGV[11] fair-stage key prefix ('' = the enqueuer frees slots itself)
    ARGV[12] the job's log budget in bytes (0 = none)
  A message counts its bytes in the job's log budget (`logBytes`, see appendLog-5.lua): one that would take it past
  the budget, and every message once the budget is spent, is left out; the progress itself is always recorded
  (a progress is never refused). The first message past it appends the truncation event.
  Returns { 'ok', start, truncated (1|0) } | { 'stale' } where start = { applied (1|0), released (1|0), fill (1|0), queuedAt or '',
  resourceClass or '' } of a start applied first
]]
--@include common
--@include start
local nodeId, attempt, progress, message = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local by = { workerId = ARGV[8], startedAt = ARGV[9], attemptId = ARGV[10], fairPrefix = ARGV[11] }
local maxBytes = tonumber(ARGV[12])
local job = hgetall(jobKey)
local node = hgetall(nodeKey(nodeId))
if not isCurrentAttempt(job, node, attempt) then return { 'stale' } end
local truncated = 0
if message ~= '' and maxBytes > 0 then
  local used = tonumber(job.logBytes or '0') + #message
  if job.logTruncated then
    message = ''
  elseif used > maxBytes then
    message, truncated = '', 1
  else
    setJob(job, 'logBytes', used)
  end
end
local nodeWrites = { 'progress', progress }
if message ~= '' then
  table.insert(nodeWrites, 'message')
  table.insert(nodeWrites, message)
end
local start = noStart(node)
if node.status ~= 'RUNNING' then
  table.insert(nodeWrites, 'status')
  table.insert(nodeWrites, 'RUNNING')
  start = startFirst(job, nodeId, node, by, nodeWrites, false)
end
redis.call('HSET', nodeKey(nodeId), unpack(nodeWrites))
appendEvent(job, 'NODE_PROGRESS', nodeId, progress, message)
if truncated == 1 then truncateLog(job, nodeId, maxBytes) end
flush(job)
return { 'ok', start, truncated }
