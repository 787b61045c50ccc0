--[[
  A log line of an attempt, as a LOG event ("[level] message"). The node's current attempt logs while it runs,
  and a line of it applied after its end (reports applied out of order: lua/includes/start.lua) is still
  appended, after the end's events: users read the logs. A line of an older attempt, or of a job that is gone,
  is stale.
  Budget: the job hash's `logBytes` counts the bytes of the job's LOG events as stored (their JSON), written by
  the step's one HSET. A line that would take it past ARGV[8] is not appended: the first such line appends ONE
  LOG event saying the log was truncated (not counted) and sets `logTruncated`; the job's later lines are dropped
  without a write. Progress messages count in the same budget (recordProgress-5.lua). Per job, not per attempt: retryJob keeps both fields. Other events are never refused.
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] level   ARGV[7] message   ARGV[8] budget in bytes (0 = none)
  Returns 'ok' | 'late' (appended after the attempt ended) | 'stale' | 'truncated' (the truncation event
  appended instead of the line) | 'dropped' (past the budget)
]]
--@include common
local nodeId, attempt, level, message = ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local maxBytes = tonumber(ARGV[8])
-- only the fields the step uses: the job hash holds the job's input, the node hash its inputs and outputs
local job = hmgetTable(jobKey, { 'id', 'status', 'seq', 'feedKey', 'logBytes', 'logTruncated' })
local node = hmgetTable(nodeKey(nodeId), { 'status', 'attempt' })
if job.status == nil or node.status == nil or tonumber(node.attempt) ~= attempt then return 'stale' end
if job.logTruncated then return 'dropped' end
local ev = nextEvent(job, 'LOG', nodeId, nil, '[' .. level .. '] ' .. message)
local entry = cjson.encode(ev)
local used = tonumber(job.logBytes or '0') + #entry
if maxBytes > 0 and used > maxBytes then
  truncateLog(job, nodeId, maxBytes)
  flush(job)
  return 'truncated'
end
setJob(job, 'logBytes', used)
pushEvent(job, ev, entry)
flush(job)
if TERMINAL[job.status] or TERMINAL[node.status] then return 'late' end
return 'ok'
