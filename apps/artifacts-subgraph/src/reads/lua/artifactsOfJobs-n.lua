-- The committed artifacts of many jobs in one round trip (Job.artifacts for a page of jobs).
-- KEYS: the jobs' artifact sets (REDIS_KEYS.jobArtifacts). ARGV[1]: the caller's tenant; ARGV[2]: the
-- artifact hash key prefix (REDIS_KEYS.artifact('')), in the same hash slot. Returns, per job, the artifact
-- hashes (flat field/value lists) that are committed and the tenant's: another tenant's artifacts and
-- uncommitted ones never leave Redis.
local out = {}
for i, setKey in ipairs(KEYS) do
  local visible = {}
  for _, id in ipairs(redis.call('SMEMBERS', setKey)) do
    local flat = redis.call('HGETALL', ARGV[2] .. id)
    local state, owner
    for j = 1, #flat, 2 do
      if flat[j] == 'state' then state = flat[j + 1] elseif flat[j] == 'tenant' then owner = flat[j + 1] end
    end
    if state == 'committed' and owner == ARGV[1] then visible[#visible + 1] = flat end
  end
  out[i] = visible
end
return out
