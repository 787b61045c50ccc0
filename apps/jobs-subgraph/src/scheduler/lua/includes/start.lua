--[[
  What a worker's start of an attempt does to its node and job (inlined after "--@include common" where a
  script says "--@include start"): startAttempt-5.lua's step, and the same step taken first by a terminal step
  whose attempt has no applied start yet. Reports of one attempt can be applied out of order (a replica that
  read the attempt's `started` died before applying it, or two replicas read the attempt's entries), and a
  terminal report that says the attempt ran implies its start: without this its node would end never RUNNING,
  without workerId and startedAt, and the events would read NODE_SUCCEEDED before JOB_STARTED. The `started`
  report that comes after its attempt ended is stale then: its effects are already applied.
]]

--[[
  Starts the node's current attempt (the caller checked it is current and not RUNNING): the job RUNNING on its
  first start (JOB_STARTED), then NODE_STARTED. `nodeWrites`: the caller's field list for the node's one HSET,
  which gets workerId and startedAt (nil: the caller's step clears them anyway: a retry, a requeue). `ending`:
  the caller ends the job in this same step, so its status indexes go from QUEUED to the end status at once.
]]
local function startAttemptOf(job, nodeId, workerId, startedAt, nodeWrites, ending)
  if nodeWrites then
    table.insert(nodeWrites, 'workerId')
    table.insert(nodeWrites, workerId)
    table.insert(nodeWrites, 'startedAt')
    table.insert(nodeWrites, startedAt)
  end
  if job.status == 'QUEUED' then
    if not ending then setJobStatus(job, 'RUNNING') end
    if not job.startedAt then setJob(job, 'startedAt', startedAt) end
    appendEvent(job, 'JOB_STARTED')
  end
  appendEvent(job, 'NODE_STARTED', nodeId, nil, 'worker ' .. workerId)
end
