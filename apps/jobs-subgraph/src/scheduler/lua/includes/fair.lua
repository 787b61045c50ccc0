--[[
  The fair-share stage in front of one resource class's node queue (inlined where a script says "--@include fair").

  Conventions of every fair*-5.lua script:
    KEYS[1] held       hash  attempt id -> JSON { tenant, priority, payload }: attempts the stage holds (ready or delayed)
    KEYS[2] ring       list  tenants that have ready attempts, each at most once: the round robin
    KEYS[3] delayed    zset  attempt id by due time (ms): retry backoff not yet elapsed
    KEYS[4] dispatched zset  attempt id by dispatch time (ms): handed to the node queue, no worker has taken it yet
    KEYS[5] capacity   string live actors of the class (written by the leader, with a TTL)
    ARGV[1] now (ms)   ARGV[2] dispatch window (minimum)   ARGV[3] ready-set key prefix   ARGV[4] job key prefix
    ARGV[5] lease size (most attempts one node-queue job may carry; 1: no leases)
    ARGV[6] lease-of key prefix   ARGV[7] lease-of retention (ms)
    ARGV[8] the calling replica's id ('' = none): it names the leases this step pops; script arguments from ARGV[9]
  A tenant's ready set is "<ready prefix><tenant>" (zset: higher job priority first, then earlier arrival) and
  a node hash "<job prefix><jobId>:node:<nodeId>"; like the transition scripts build node keys from the job
  key, these are built here (correct on one Redis or Sentinel; Redis Cluster would need hash tags).

  Occupancy (docs/decisions/0005-fair-share.md, "Occupancy"): "<stage>occupancy" (the stage's prefix: KEYS[1]
  without "held") is a zset of the attempts dispatched by the stage and not yet ended, dispatched or running, each
  scored by its tenant's occupancyScore; ZCOUNT of a score is what that tenant occupies. Added in the step that
  dispatches (one ZADD per step); removed by every step that ends an attempt or takes it back (ZREM of an absent
  member is harmless, so an end applied twice or an attempt never counted cannot drift it); the leader's pass drops
  what an end never removed (FairQueue.healOccupancy). With several tenants in the ring the next attempt goes to
  the least occupying of the first OCCUPANCY_SCAN, and a tenant at its share of the class's actors waits.

  Invariant: a tenant is in the ring exactly when its ready set is not empty. Attempts in `dispatched` count
  against the window until a worker takes them (the scheduler releases them on the worker's report; the
  leader's sweep releases the rest), so replicas racing to dispatch can never exceed it.

  Leases (docs/decisions/0007-dispatch-cost-per-attempt.md): the window counts node-queue jobs. When more
  attempts are ready than the window has free slots, a popped attempt takes a slot and up to `lease size - 1`
  more are popped behind it, round robin as ever, into the same job (the lease "lease.<first id>@<replica>",
  named by the replica that pops it, which is the one that adds it); only the first holds the slot (freed when it
  starts, as a single's). Every attempt of a lease gets a lease-of key "<lease-of prefix><id>" = "<dispatch
  ms>:<lease id>", written in the step that pops it, so the queue state of each can be found and none is
  dispatched twice. A lease whose replica died before adding it is added again by the reconciler under the same
  id (reconciler.ts), so the dead replica's add, should it come after all, is a no-op.
]]
local heldKey, ringKey, delayedKey, dispatchedKey, capacityKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local nowMs = tonumber(ARGV[1])
local minWindow = tonumber(ARGV[2])
local readyPrefix = ARGV[3]
local jobPrefix = ARGV[4]
local leaseSize = math.max(1, tonumber(ARGV[5]) or 1)
local leaseOfPrefix = ARGV[6]
local leaseRetentionMs = tonumber(ARGV[7]) or 86400000
local leaseSuffix = ''
if (ARGV[8] or '') ~= '' then leaseSuffix = '@' .. ARGV[8] end
local occupancyKey = string.sub(heldKey, 1, #heldKey - 4) .. 'occupancy'

-- each step is bounded: due retries promoted per call, and stale entries dropped per call
local PROMOTE_BATCH = 1000
local DROP_BUDGET = 100
-- 2^42 ms (until the year 2109): (1000 - priority) * TIME_SPAN + ms stays an exact integer in a double
local TIME_SPAN = 4398046511104

local function readyScore(priority, atMs)
  local p = math.max(0, math.min(1000, tonumber(priority) or 0))
  return (1000 - p) * TIME_SPAN + atMs
end

-- The ring's length, read once per step and kept current by this step's own pushes and pops.
local ringLenRead
local function ringLen()
  if ringLenRead == nil then ringLenRead = redis.call('LLEN', ringKey) end
  return ringLenRead
end
local function ringGrew(n)
  if ringLenRead ~= nil then ringLenRead = ringLenRead + n end
end

-- Tenants this step put in the ring: with the window full, dispatch() then looks for attempts to take back.
local joined = false

-- Only for an attempt that is held and in no ready set (a held attempt is in its ready set or in `delayed`).
local function makeReady(id, tenant, priority, atMs)
  local readyKey = readyPrefix .. tenant
  if redis.call('ZCARD', readyKey) == 0 then
    redis.call('RPUSH', ringKey, tenant)
    ringGrew(1)
    joined = true
  end
  redis.call('ZADD', readyKey, readyScore(priority, atMs), id)
end

-- The earliest due time in `delayed` (ms), or nil; read once per step, again only after `delayed` changed.
local firstDueMs
local firstDueRead = false
local function firstDue()
  if not firstDueRead then
    local first = redis.call('ZRANGE', delayedKey, 0, 0, 'WITHSCORES')
    firstDueMs = first[2] and tonumber(first[2]) or nil
    firstDueRead = true
  end
  return firstDueMs
end
-- Call after adding to or removing from `delayed`.
local function delayedChanged()
  firstDueRead = false
end

-- Retries whose backoff has elapsed join their tenant's ready set, ordered by their due time.
local function promoteDue()
  local due0 = firstDue()
  if not due0 or due0 > nowMs then return end
  delayedChanged()
  local due = redis.call('ZRANGEBYSCORE', delayedKey, '-inf', nowMs, 'WITHSCORES', 'LIMIT', 0, PROMOTE_BATCH)
  for i = 1, #due, 2 do
    local id = due[i]
    redis.call('ZREM', delayedKey, id)
    local raw = redis.call('HGET', heldKey, id)
    if raw then
      local entry = cjson.decode(raw)
      makeReady(id, entry.tenant, entry.priority, tonumber(due[i + 1]))
    end
  end
end

-- The attempt id is "<jobId>.<nodeId>.<attempt>" (attemptJobId: job ids are uuids, node ids have no '.').
-- Only the node's current attempt, still waiting for a worker, is worth a queue slot.
local function isCurrent(id)
  local jobId, nodeId, attempt = string.match(id, '^([^.]+)%.([^.]+)%.(%d+)$')
  if not jobId then return false end
  local node = redis.call('HMGET', jobPrefix .. jobId .. ':node:' .. nodeId, 'status', 'attempt')
  return (node[1] == 'QUEUED' or node[1] == 'RETRYING') and tonumber(node[2]) == tonumber(attempt)
end

-- The class's live actors as the leader last recorded them (0: unknown), read once per step.
local capacityRead
local function capacity()
  if capacityRead == nil then capacityRead = tonumber(redis.call('GET', capacityKey) or '0') or 0 end
  return capacityRead
end

local function dispatchWindow()
  return math.max(minWindow, capacity())
end

-- Free slots in the window, read once per step (after the step's own releases) and kept current by its dispatches.
local roomRead
local function room()
  if roomRead == nil then roomRead = dispatchWindow() - redis.call('ZCARD', dispatchedKey) end
  return roomRead
end
-- The attempts this step put in the window, in the order it handed them out (takeBackCandidates reads the window
-- in the node queue's order: the step's own dispatches share one score, nowMs).
local slotsTaken = {}
local function takeSlot(id)
  redis.call('ZADD', dispatchedKey, nowMs, id)
  roomRead = room() - 1
  table.insert(slotsTaken, id)
end

-- Ready attempts, counted once per step (over the first 32 tenants of the ring; one each beyond), then kept
-- current by the step's own pops: how many a lease may take without leaving a free slot without work.
local readyLeft
local function readyCount()
  if readyLeft == nil then
    readyLeft = 0
    for _, tenant in ipairs(redis.call('LRANGE', ringKey, 0, 31)) do
      readyLeft = readyLeft + redis.call('ZCARD', readyPrefix .. tenant)
    end
    if ringLen() > 32 then readyLeft = readyLeft + ringLen() - 32 end
  end
  return readyLeft
end

--@include occupancy

-- What each tenant occupies (ZCOUNT once per step, then kept current by the step's own dispatches), and the
-- step's dispatches to add to the occupancy zset in one ZADD at its end (flushOccupancy).
local occupied = {}
local occupancyAdds = {}
local function occupancyOf(tenant)
  if occupied[tenant] == nil then
    local score = occupancyScore(tenant)
    occupied[tenant] = redis.call('ZCOUNT', occupancyKey, score, score)
  end
  return occupied[tenant]
end
local function occupy(id, tenant)
  if occupied[tenant] ~= nil then occupied[tenant] = occupied[tenant] + 1 end
  table.insert(occupancyAdds, occupancyScore(tenant))
  table.insert(occupancyAdds, id)
end
local function flushOccupancy()
  if #occupancyAdds > 0 then redis.call('ZADD', occupancyKey, unpack(occupancyAdds)) end
  occupancyAdds = {}
end

-- Takes popped attempt ids (all of `tenant`) out of `held`: appends { id, entry } of each current one to `into`
-- and counts it as the tenant's occupancy (a stale one — cancelled, finished or superseded while held, never
-- dispatched — is counted in `dropped`).
local dropped = 0
local function takeHeld(ids, into, tenant)
  if #ids == 0 then return end
  local raws = redis.call('HMGET', heldKey, unpack(ids))
  redis.call('HDEL', heldKey, unpack(ids))
  for i, id in ipairs(ids) do
    if raws[i] and isCurrent(id) then
      table.insert(into, { id, raws[i] })
      occupy(id, tenant)
    else
      dropped = dropped + 1
    end
  end
end

-- Tenants looked at per pick, from the ring's head: the pick reads each one's occupancy (one ZCOUNT each), so a
-- step stays bounded with thousands of tenants waiting; 16 covers every tenant in the common case, and with more
-- the ring's rotation brings the others to the head in turn (a tenant waits at most ringLen / 16 picks to be seen).
local OCCUPANCY_SCAN = 16

-- Which tenant of the ring's head gets the next attempt (several tenants waiting): the one that occupies the
-- fewest of the class's slots (dispatched or running), the earliest in the ring on ties, and only while it is
-- under its share of the class's actors, ceil(actors / tenants waiting) (actors unknown: the window). The share
-- is what keeps a tenant whose attempts run long to it: its window entries are taken by the actors that the
-- others' short attempts free, so the least occupying alone would give it every actor once the window is as
-- large as the class. Returns the tenant's place in the ring (1-based) and name, or nil when every tenant looked
-- at is at its share (nothing is dispatched until an end frees a slot: AT_SHARE marks it; those first 16 go to the
-- ring's tail so the next pick looks at others).
local function pickTenant()
  local heads = redis.call('LRANGE', ringKey, 0, OCCUPANCY_SCAN - 1)
  local actors = capacity()
  if actors <= 0 then actors = dispatchWindow() end
  local share = math.ceil(actors / math.max(1, ringLen()))
  local best, bestOcc
  for i, tenant in ipairs(heads) do
    local occ = occupancyOf(tenant)
    if occ < share and (bestOcc == nil or occ < bestOcc) then
      best, bestOcc = i, occ
    end
  end
  if best then return best, heads[best] end
  -- the mark the next completion in the class removes with its attempt, and so learns to fill (common.lua)
  redis.call('ZADD', occupancyKey, -1, AT_SHARE)
  if ringLen() > #heads then
    redis.call('LPOP', ringKey, #heads)
    redis.call('RPUSH', ringKey, unpack(heads))
  end
  return nil
end

-- Whether a pick served a tenant in this step (under its share then): takeBackCandidates looks at the window.
local pickedAny = false

-- Pops up to n attempts into `into` (nothing when the ring is empty). Several tenants: one of the tenant
-- pickTenant names, which moves to the tail while it has more (returns false, popping nothing, when every tenant
-- looked at is at its share). A lone tenant is read in place and gives its next n at once (round robin over one
-- tenant is its own order): one pop, one read of `held`.
local function popAttempts(n, into)
  local alone = ringLen() == 1
  local tenant
  if alone then
    tenant = redis.call('LINDEX', ringKey, 0)
  elseif ringLen() > 1 then
    local place
    place, tenant = pickTenant()
    if not place then return false end
    if place == 1 then redis.call('LPOP', ringKey) else redis.call('LREM', ringKey, 1, tenant) end
  end
  if not tenant then
    ringLenRead = 0
    return true
  end
  if not alone then ringGrew(-1) end
  local readyKey = readyPrefix .. tenant
  local popped = redis.call('ZPOPMIN', readyKey, alone and n or 1)
  local more = redis.call('ZCARD', readyKey) > 0
  if alone and not more then
    redis.call('LPOP', ringKey)
    ringGrew(-1)
  elseif not alone and more then
    redis.call('RPUSH', ringKey, tenant)
    ringGrew(1)
  end
  if not alone then pickedAny = true end
  local ids = {}
  for i = 1, #popped, 2 do table.insert(ids, popped[i]) end
  if readyLeft ~= nil then readyLeft = readyLeft - #ids end
  -- a tenant in the ring with nothing ready (never, by the invariant) counts as a drop: the loop ends
  if #ids == 0 then dropped = dropped + 1 end
  takeHeld(ids, into, tenant)
  return true
end

-- Take-back (decision 0005 "Taking back"). A tenant alone in the ring fills the window with attempts beyond its
-- share (work-conserving); an attempt of a tenant under its share handed out after them waits behind them in the
-- node queue (first in, first out), with long attempts for hours. So a step that ends with the window full, when
-- a tenant joined the ring in it, a pick served a tenant under its share, or it was asked (takeBackAsked: a submit
-- that put a tenant in the ring behind a full window, the leader's pass), reads the window in queue order and
-- names ("-<id>" pairs in its answer) the single attempts of tenants beyond their share, ceil(actors / tenants
-- waiting), that are ahead of an attempt within its tenant's share, or ahead of the tail when a tenant of the
-- ring's head waits under its share (its next attempt goes to the tail). A tenant's attempts count in order from
-- what it runs: its window attempts past its share are its newest. Tenants waiting: those with attempts in the
-- window or in the ring. The dispatcher removes each named attempt from the node queue with the queue's own API
-- while no worker holds it, and hands those it removed to fairTakeBack-5.lua, which puts them back in their
-- tenant's ready set and fills the window (the waiting tenant first: the pick caps the others at their share).
-- Leases are left (short attempts by construction: decision 0007; a lease runs within the worker's slice). Each
-- named attempt's dispatch time is stamped now, so the leader's sweep and the reconciler leave it alone
-- (lostAfterMs) while the dispatcher works: after a crash between its removal and fairTakeBack they repair it as
-- any lost dispatch (re-added under its id). A lone tenant's refills do not look.
local takeBackAsked = false
-- fairTakeBack-5.lua's own step does not look (what it would name waits for the next step that does).
local takeBackOff = false
local function takeBackCandidates(out)
  if room() > 0 then return end
  -- the window in queue order: earlier steps' dispatches by time, then this step's in the order it made them
  local ids = redis.call('ZRANGEBYSCORE', dispatchedKey, '-inf', '(' .. nowMs)
  for _, id in ipairs(slotsTaken) do table.insert(ids, id) end
  if #ids == 0 then return end
  local scores = redis.call('ZMSCORE', occupancyKey, unpack(ids))
  local inWindow, tenants = {}, 0
  for i = 1, #ids do
    local score = scores[i]
    if score then
      if inWindow[score] == nil then
        inWindow[score] = 0
        tenants = tenants + 1
      end
      inWindow[score] = inWindow[score] + 1
    end
  end
  local heads = {}
  if ringLen() > 0 then heads = redis.call('LRANGE', ringKey, 0, OCCUPANCY_SCAN - 1) end
  for _, tenant in ipairs(heads) do
    if inWindow[tostring(occupancyScore(tenant))] == nil then tenants = tenants + 1 end
  end
  tenants = tenants + math.max(0, ringLen() - #heads)
  local actors = capacity()
  if actors <= 0 then actors = dispatchWindow() end
  local share = math.ceil(actors / math.max(1, tenants))
  -- the ring's head: a tenant under its share there goes to the tail, behind every attempt of the window
  local cut = 0
  for _, tenant in ipairs(heads) do
    if occupancyOf(tenant) < share then
      cut = #ids
      break
    end
  end
  -- each tenant's rank: what it runs (its occupancy less its window attempts), then its window attempts in order
  local rank = {}
  for score, n in pairs(inWindow) do rank[score] = redis.call('ZCOUNT', occupancyKey, score, score) - n end
  local beyond = {}
  for i, id in ipairs(ids) do
    local score = scores[i]
    if score then
      rank[score] = rank[score] + 1
      if rank[score] > share then
        beyond[i] = true
      elseif i > cut and next(beyond) ~= nil then
        cut = i
      end
    end
  end
  for i = cut, 1, -1 do
    local id = ids[i]
    if beyond[i] and redis.call('EXISTS', leaseOfPrefix .. id) == 0 then
      redis.call('ZADD', dispatchedKey, 'XX', nowMs, id)
      table.insert(out, '-' .. id)
      table.insert(out, '')
    end
  end
end

local function markLeased(id, leaseId)
  redis.call('SET', leaseOfPrefix .. id, nowMs .. ':' .. leaseId, 'PX', leaseRetentionMs)
end

-- Fills the window round robin over tenants, one node-queue job per free slot: a single attempt, or a lease
-- when more are ready than there are free slots (its followers come back as "+<id>", entry). Appends id, entry
-- pairs to `out`; returns how many were dropped.
local function dispatch(out)
  promoteDue()
  if ringLen() == 0 then
    -- nothing to pop; asked, the window is still looked at (an attempt within its share behind others')
    if takeBackAsked and not takeBackOff then takeBackCandidates(out) end
    return 0
  end
  while ringLen() > 0 and room() > 0 and dropped < DROP_BUDGET do
    local size = 1
    if leaseSize > 1 then size = math.max(1, math.min(leaseSize, math.ceil(readyCount() / room()))) end
    local lease = {}
    local blocked = false
    while #lease < size and ringLen() > 0 and dropped < DROP_BUDGET and not blocked do
      blocked = not popAttempts(size - #lease, lease)
    end
    if #lease == 0 and blocked then break end
    if #lease > 0 then
      local id = lease[1][1]
      takeSlot(id)
      table.insert(out, id)
      table.insert(out, lease[1][2])
      local leaseId = 'lease.' .. id .. leaseSuffix -- leaseIdOf (#libs/contracts)
      for i = 2, #lease do
        markLeased(lease[i][1], leaseId)
        table.insert(out, '+' .. lease[i][1])
        table.insert(out, lease[i][2])
      end
      if #lease > 1 then markLeased(id, leaseId) end
    end
    if blocked then break end
  end
  flushOccupancy()
  if (joined or takeBackAsked or pickedAny) and not takeBackOff then takeBackCandidates(out) end
  return dropped
end

-- The earliest due time of a delayed attempt (ms), or -1: the caller sets a timer for it.
local function nextDue()
  return firstDue() or -1
end

-- The fast path of an attempt ready now: when no tenant has attempts waiting (the ring is empty) and the
-- window has room, it is exactly what holding it and filling the window would hand out, without the holding.
-- Appends id, entry to `out` and returns true when it dispatched it (due retries are promoted first).
local function dispatchAtOnce(id, entry, tenant, out)
  promoteDue()
  if ringLen() > 0 then return false end
  if room() <= 0 then return false end
  if isCurrent(id) then
    takeSlot(id)
    occupy(id, tenant)
    flushOccupancy()
    table.insert(out, id)
    table.insert(out, entry)
  end
  -- not current: never dispatched nor held (what the slow path would drop)
  return true
end
