--[[
  Cancels a job: every unfinished node CANCELLED, the job CANCELLED, workers told to stop. Cancelling a
  finished job changes nothing (idempotent).
    ARGV[4] reason
  Returns { 'cancelled', liveAttempt... } | { 'finished', status } | { 'missing' }
]]
--@include common
local job = hgetall(jobKey)
if not job.status then return { 'missing' } end
if TERMINAL[job.status] then return { 'finished', job.status } end
local read = readForFinish(job)
local live = finishJob(job, 'CANCELLED', cjson.encode({ code = 'CANCELLED', message = ARGV[4], retryable = false }), ARGV[4], read)
flush(job)
local result = { 'cancelled' }
for _, l in ipairs(live) do table.insert(result, l) end
return result
