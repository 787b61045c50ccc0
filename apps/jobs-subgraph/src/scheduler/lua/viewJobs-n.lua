-- Reads many jobs with all their nodes in one round trip (federation `_entities` batches).
-- KEYS: the job hashes. ARGV[1]: the caller's tenant; another tenant's job reads as missing and never
-- leaves Redis. Returns, per job, {} when missing, else { job hash (flat), node hash (flat), ... } in
-- the job's nodeIds order. Node keys are the job key + ':node:<id>' (the same hash tag as the job).
local out = {}
for i, jobKey in ipairs(KEYS) do
  local flat = redis.call('HGETALL', jobKey)
  local fields = {}
  for j = 1, #flat, 2 do fields[flat[j]] = flat[j + 1] end
  if fields.id == nil or fields.tenant ~= ARGV[1] then
    out[i] = {}
  else
    local entry = { flat }
    local ok, nodeIds = pcall(cjson.decode, fields.nodeIds or '[]')
    if ok and type(nodeIds) == 'table' then
      for _, nodeId in ipairs(nodeIds) do
        entry[#entry + 1] = redis.call('HGETALL', jobKey .. ':node:' .. nodeId)
      end
    end
    out[i] = entry
  end
end
return out
