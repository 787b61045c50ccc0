-- A job's artifacts in list order (createdAt, name, id) as one sorted set, REDIS_KEYS.jobArtifactOrder: every
-- score 0, and the member (jobArtifactOrderMember in libs/contracts) is tenant .. NUL .. createdAt (canonical ISO,
-- fixed width) .. name .. NUL .. id. No tenant, name or id holds NUL, so ZRANGE BYLEX order is (tenant, createdAt,
-- name, id): one tenant's part of the list is one range, found by a seek. Shared by the steps that write the
-- job's artifact set (the scheduler's commit, the storage delete) and the read that pages it.

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

-- The member of an artifact from its hash's state, tenant, createdAt and name. One that no tenant may see (not
-- committed, fields missing: only a record the job's set should not hold) is '\255' .. id, outside every
-- tenant's range: the index then holds exactly one member per set member, which is how a read tells a whole
-- index from one an older writer left behind (ZCARD = SCARD).
local function artifactOrderMember(id, state, tenant, createdAt, name)
  if state ~= 'committed' or not tenant or not createdAt or not name then return '\255' .. id end
  return tenant .. '\0' .. artifactCanonicalAt(createdAt) .. name .. '\0' .. id
end

-- The id a member names (after its last NUL; a '\255' member: the rest)
local function artifactOrderId(member)
  if string.byte(member, 1) == 255 then return string.sub(member, 2) end
  return string.match(member, '%z([^%z]*)$')
end
