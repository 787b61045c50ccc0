--[[
  Fails a whole job (job-level deadline): unfinished nodes CANCELLED, job FAILED with the error, dead-lettered.
    ARGV[4] error JSON (JobError)
  Returns { 'failed', liveAttempt... } | { 'finished', status } | { 'missing' }
]]
--@include common
local job = hgetall(jobKey)
if not job.status then return { 'missing' } end
if TERMINAL[job.status] then return { 'finished', job.status } end
local err = cjson.decode(ARGV[4])
local live = finishJob(job, 'FAILED', ARGV[4], err.message, readForFinish(job))
flush(job)
local result = { 'failed' }
for _, l in ipairs(live) do table.insert(result, l) end
return result
