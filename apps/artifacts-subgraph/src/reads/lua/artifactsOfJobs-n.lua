-- A page of committed artifacts of each of many jobs in one round trip (Job.artifacts / Job.artifactsPage for a
-- page of jobs). KEYS[2i-1]: a job's artifact set (REDIS_KEYS.jobArtifacts), KEYS[2i]: its order index
-- (REDIS_KEYS.jobArtifactOrder; a job may be listed more than once, e.g. for two fields with different
-- arguments). ARGV[1]: the caller's tenant; ARGV[2]: the artifact hash key prefix (REDIS_KEYS.artifact(''), same
-- hash slot); then 2 per job: ARGV[3 + 2(i-1)] the page size `limit`, and the place to start after (the member
-- without its tenant and NUL: jobArtifactOrderPlace in libs/contracts; '': from the start).
-- Order: commit order (lua/includes/artifact-order.lua). Returns per job { more (1: another visible artifact
-- follows the page), the page's artifact hashes (flat field/value lists)... }. Only the visible ones (committed,
-- the tenant's) are returned: another tenant's artifacts and uncommitted ones never leave Redis.
-- Cost per job: ZCARD + SCARD, one ZRANGE BYLEX seek into the caller's tenant's range of the index, HGETALL of
-- the page's records and HMGET of the one after: O(log N + limit), whatever the job holds. A record the index
-- names but the hash does not back (another tenant's, uncommitted, gone: never written so, but the hash is the
-- truth) is skipped and the seek goes on past it. The place after which a page starts need not be a member any
-- more (its artifact deleted since): the seek starts where it would be.
-- A job committed before the index existed has the set only (or an index an older writer left short): when the
-- counts differ the index is rebuilt from the set first, in this step: O(N) once per such job, after which
-- every writer keeps the two in step (scheduler completeAttempt, storage deleteArtifact). The rebuild gives each
-- record the member its writers give it (by commitSeq, or by createdAt for one committed by an older release).
--@include artifact-order

local tenant, prefix = ARGV[1], ARGV[2]
local lowest, highest = '[' .. tenant .. '\0', '(' .. tenant .. '\1'

local function rebuild(setKey, orderKey)
  redis.call('DEL', orderKey)
  local batch = {}
  for _, id in ipairs(redis.call('SMEMBERS', setKey)) do
    local f = redis.call('HMGET', prefix .. id, 'state', 'tenant', 'createdAt', 'name', 'commitSeq')
    batch[#batch + 1] = 0
    batch[#batch + 1] = artifactOrderMember(id, f[1], f[2], f[3], f[4], f[5])
    if #batch >= 1000 then
      redis.call('ZADD', orderKey, unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then redis.call('ZADD', orderKey, unpack(batch)) end
end

local out = {}
for i = 1, #KEYS / 2 do
  local setKey, orderKey = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 3 + (i - 1) * 2
  local limit = tonumber(ARGV[base])
  if redis.call('ZCARD', orderKey) ~= redis.call('SCARD', setKey) then rebuild(setKey, orderKey) end
  local from = lowest
  if ARGV[base + 1] ~= '' then from = '(' .. tenant .. '\0' .. ARGV[base + 1] end
  local page, more = { 0 }, false
  while not more do
    local asked = limit + 2 - #page
    local members = redis.call('ZRANGE', orderKey, from, highest, 'BYLEX', 'LIMIT', 0, asked)
    if #members == 0 then break end
    for _, m in ipairs(members) do
      local key = prefix .. artifactOrderId(m)
      if #page <= limit then
        local flat = redis.call('HGETALL', key)
        local h = {}
        for j = 1, #flat, 2 do h[flat[j]] = flat[j + 1] end
        if h.state == 'committed' and h.tenant == tenant then page[#page + 1] = flat end
      else
        local f = redis.call('HMGET', key, 'state', 'tenant')
        if f[1] == 'committed' and f[2] == tenant then
          more = true
          break
        end
      end
    end
    if #members < asked then break end -- the range's end
    from = '(' .. members[#members]
  end
  page[1] = more and 1 or 0
  out[i] = page
end
return out
