-- A job's artifacts in list order as one sorted set, REDIS_KEYS.jobArtifactOrder: every score 0, and the member
-- (jobArtifactOrderMember in libs/contracts, its twin) is tenant .. NUL .. place. No tenant, name or id holds NUL,
-- so ZRANGE BYLEX order is (tenant, place): one tenant's part of the list is one range, found by a seek. Shared by
-- the steps that write the job's artifact set (the scheduler's commit, the storage delete) and the read that
-- pages it.
--
-- The list is in commit order, so that whatever a job commits after a client read a cursor comes after that
-- cursor. An output's place is 'c' .. its commitSeq (16 digits) .. NUL .. id, where commitSeq is the seq of the
-- ARTIFACT_CREATED job event its commit step appended (completeAttempt-10.lua): taken from the job hash in the same
-- atomic step, it only grows, is never reused and never ties, unlike a clock (two steps in one millisecond, a
-- clock stepped back, replicas' clocks), and it costs the step no command (the step reads and writes seq anyway).
-- An output committed by an older release has no commitSeq: its place is its createdAt (canonical ISO, fixed
-- width) .. name .. NUL .. id, the order that release listed; an ISO string starts with a digit, so all of those
-- come before every 'c' one, as they were committed before any of them.

-- createdAt as YYYY-MM-DDTHH:MM:SS.mmmZ, so that string order is time order for records written with fewer (or
-- more) fraction digits too
local function artifactCanonicalAt(at)
  local date, hm, rest = string.match(at, '^(%d%d%d%d%-%d%d%-%d%d)T(%d%d:%d%d)(.-)Z$')
  if not date then return at end
  local sec, frac = string.match(rest, '^:(%d%d)%.?(%d*)$')
  if not sec then
    if rest ~= '' then return at end
    sec, frac = '00', ''
  end
  return date .. 'T' .. hm .. ':' .. sec .. '.' .. string.sub(frac .. '000', 1, 3) .. 'Z'
end

-- The member of an artifact from its hash's state, tenant, createdAt, name and commitSeq (nil or '': none). One
-- that no tenant may see (not committed, fields missing: only a record the job's set should not hold) is
-- '\255' .. id, outside every tenant's range: the index then holds exactly one member per set member, which is
-- how a read tells a whole index from one an older writer left behind (ZCARD = SCARD).
local function artifactOrderMember(id, state, tenant, createdAt, name, commitSeq)
  if state ~= 'committed' or not tenant or not createdAt or not name then return '\255' .. id end
  local seq = commitSeq and string.match(tostring(commitSeq), '^%d+$')
  if seq and #seq <= 16 then
    return tenant .. '\0' .. 'c' .. string.rep('0', 16 - #seq) .. seq .. '\0' .. id
  end
  return tenant .. '\0' .. artifactCanonicalAt(createdAt) .. name .. '\0' .. id
end

-- The id a member names (after its last NUL; a '\255' member: the rest)
local function artifactOrderId(member)
  if string.byte(member, 1) == 255 then return string.sub(member, 2) end
  return string.match(member, '%z([^%z]*)$')
end
