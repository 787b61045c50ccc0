--[[
  Takes back single attempts the dispatcher removed from the node queue (named by a step's take-back: fair.lua,
  takeBackCandidates; the queue's own API removed each while no worker held it): each leaves `dispatched` and its
  tenant's occupancy and goes back to its tenant's ready set in its place (its job's priority, then when its node
  was queued), held again; then the window is filled (the tenant that waited under its share first). An attempt
  no longer in `dispatched` was released or removed meanwhile (a cancel, the leader's sweep, another replica's
  take-back): left alone. One whose node no longer waits for it (cancelled, ended, superseded) is not held again;
  one whose node runs it keeps its occupancy (its end removes it).
    ARGV[9..] per attempt: id, tenant, payload JSON (NodeAttemptPayload, as the node queue had it)
  Returns { takenBack, nextDue, dropped, id, entry, id, entry... }
]]
--@include fair
local takenBack = 0
for i = 9, #ARGV, 3 do
  local id, tenant, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('ZREM', dispatchedKey, id) == 1 then
    local jobId, nodeId, attempt = string.match(id, '^([^.]+)%.([^.]+)%.(%d+)$')
    local node = jobId and redis.call('HMGET', jobPrefix .. jobId .. ':node:' .. nodeId, 'status', 'attempt', 'queuedAt')
      or {}
    local current = tonumber(node[2]) == tonumber(attempt)
    if current and (node[1] == 'QUEUED' or node[1] == 'RETRYING') then
      redis.call('ZREM', occupancyKey, id)
      if redis.call('HEXISTS', heldKey, id) == 0 then
        local priority = tonumber(redis.call('HGET', jobPrefix .. jobId, 'priority') or '0') or 0
        -- the payload as the queue had it, verbatim (cjson would reformat its numbers)
        local entry = '{"tenant":' .. cjson.encode(tenant) .. ',"priority":' .. priority .. ',"payload":' .. payload .. '}'
        redis.call('HSET', heldKey, id, entry)
        makeReady(id, tenant, priority, tonumber(node[3]) or nowMs)
      end
      takenBack = takenBack + 1
    elseif not (current and node[1] == 'RUNNING') then
      redis.call('ZREM', occupancyKey, id)
    end
  end
end
-- the step's own returns to the ring are no newcomers: no take-back is looked for in it
takeBackOff = true
local out = { takenBack, 0, 0 }
out[3] = dispatch(out)
out[2] = nextDue()
return out
