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

--[[
  The start a later report of the attempt (its end, a progress) applies first, its node not yet RUNNING for it:
  startAttemptOf, and the attempt's dispatch slot freed as startAttempt-5.lua frees it (the late `started` report
  frees it too, but a dead replica's entry is applied only once claimed: until then the slot would count against
  the window). `by`: { workerId, startedAt (ISO), attemptId (the queue job id), fairPrefix ('' = the enqueuer
  frees slots itself) }. Returns the step's start answer (start-step.ts StartStep):
  { 1, released (1|0), fill (1|0), queuedAt (ms) or '', resourceClass or '' }.
]]
local function startFirst(job, nodeId, node, by, nodeWrites, ending)
  local released, fill = releaseDispatchSlot(by.fairPrefix, node.resourceClass, by.attemptId)
  startAttemptOf(job, nodeId, by.workerId, by.startedAt, nodeWrites, ending)
  return { 1, released, fill, node.queuedAt or '', node.resourceClass or '' }
end

-- The start answer of a step that started nothing (the class still named: a caller may need it).
local function noStart(node)
  return { 0, 0, 0, '', node.resourceClass or '' }
end
