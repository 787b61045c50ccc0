--[[
  A log line of an attempt, as a LOG event ("[level] message"). The node's current attempt logs while it runs,
  and a line of it applied after its end (reports applied out of order: lua/includes/start.lua) is still
  appended, after the end's events: users read the logs. A line of an older attempt, or of a job that is gone,
  is stale.
    ARGV[4] node id   ARGV[5] attempt   ARGV[6] level   ARGV[7] message
  Returns 'ok' | 'late' (appended after the attempt ended) | 'stale'
]]
--@include common
local nodeId, attempt, level, message = ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local job = hgetall(jobKey)
local node = hgetall(nodeKey(nodeId))
if job.status == nil or node.status == nil or tonumber(node.attempt) ~= attempt then return 'stale' end
appendEvent(job, 'LOG', nodeId, nil, '[' .. level .. '] ' .. message)
flush(job)
if TERMINAL[job.status] or TERMINAL[node.status] then return 'late' end
return 'ok'
