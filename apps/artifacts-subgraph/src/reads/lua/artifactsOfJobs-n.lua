-- A page of committed artifacts of each of many jobs in one round trip (Job.artifacts / Job.artifactsPage for a
-- page of jobs). KEYS[i]: a job's artifact set (REDIS_KEYS.jobArtifacts; a job may be listed more than once,
-- e.g. for two fields with different arguments). ARGV[1]: the caller's tenant; ARGV[2]: the artifact hash key
-- prefix (REDIS_KEYS.artifact(''), same hash slot); then 4 per key: ARGV[3 + 4(i-1)] the page size `limit`, and
-- the position to start after (createdAt as a canonical ISO string, name, id; '' createdAt: from the start).
-- Order: createdAt, then name, then id. Returns per key { more (1: another visible artifact follows the page),
-- the page's artifact hashes (flat field/value lists)... }. Only the visible ones (committed, the tenant's) are
-- considered: another tenant's artifacts and uncommitted ones never leave Redis. Every member's sort fields are
-- read (HMGET), but only the page's records are read whole and returned, so what leaves Redis is bounded by
-- `limit` whatever the job holds.

-- createdAt as YYYY-MM-DDTHH:MM:SS.mmmZ (the ISO form the cursor names), so that string order is time order
-- for records written with fewer (or more) fraction digits too
local function canonical(at)
  local date, hm, rest = string.match(at, '^(%d%d%d%d%-%d%d%-%d%d)T(%d%d:%d%d)(.-)Z$')
  if not date then return at end
  local sec, frac = string.match(rest, '^:(%d%d)%.?(%d*)$')
  if not sec then
    if rest ~= '' then return at end
    sec, frac = '00', ''
  end
  return date .. 'T' .. hm .. ':' .. sec .. '.' .. string.sub(frac .. '000', 1, 3) .. 'Z'
end

-- a before b in (createdAt, name, id) order
local function before(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[3] < b[3]
end

local tenant, prefix = ARGV[1], ARGV[2]
local out = {}
for i, setKey in ipairs(KEYS) do
  local base = 3 + (i - 1) * 4
  local limit = tonumber(ARGV[base])
  local after = ARGV[base + 1] ~= '' and { ARGV[base + 1], ARGV[base + 2], ARGV[base + 3] } or nil
  -- the limit + 1 first entries past `after`, kept sorted (insertion: a page is at most a few hundred)
  local keep, best = limit + 1, {}
  for _, id in ipairs(redis.call('SMEMBERS', setKey)) do
    local f = redis.call('HMGET', prefix .. id, 'state', 'tenant', 'createdAt', 'name')
    if f[1] == 'committed' and f[2] == tenant and f[3] and f[4] then
      local e = { canonical(f[3]), f[4], id }
      if (not after or before(after, e)) and (#best < keep or before(e, best[#best])) then
        local at = #best + 1
        while at > 1 and before(e, best[at - 1]) do
          best[at] = best[at - 1]
          at = at - 1
        end
        best[at] = e
        if #best > keep then best[#best] = nil end
      end
    end
  end
  local page = { #best > limit and 1 or 0 }
  for j = 1, math.min(limit, #best) do page[#page + 1] = redis.call('HGETALL', prefix .. best[j][3]) end
  out[i] = page
end
return out
