-- Reads what the API shows of many jobs and their nodes in one round trip (jobs pages, `job`, `_entities`).
-- KEYS: the job hashes. ARGV[1]: the caller's tenant; another tenant's job reads as missing and never leaves
-- Redis. ARGV[2]: how many job fields follow (J); ARGV[3 .. 2+J]: the job fields, the first three being id,
-- tenant and nodeIds; the rest of ARGV: the node fields. Only those fields are read (HMGET): a node's inputs
-- and output schema, which the API never shows, stay in Redis. Returns, per job, {} when missing, else
-- { job values, node values, ... } in the job's nodeIds order (values in the order asked, nil when absent).
local tenant = ARGV[1]
local jobFieldCount = tonumber(ARGV[2])
local jobFields = {}
for i = 1, jobFieldCount do jobFields[i] = ARGV[2 + i] end
local nodeFields = {}
for i = 3 + jobFieldCount, #ARGV do nodeFields[#nodeFields + 1] = ARGV[i] end
local out = {}
for i, jobKey in ipairs(KEYS) do
  local job = redis.call('HMGET', jobKey, unpack(jobFields))
  if not job[1] or job[2] ~= tenant then
    out[i] = {}
  else
    local entry = { job }
    local ok, nodeIds = pcall(cjson.decode, job[3] or '[]')
    if ok and type(nodeIds) == 'table' then
      for _, nodeId in ipairs(nodeIds) do
        entry[#entry + 1] = redis.call('HMGET', jobKey .. ':node:' .. nodeId, unpack(nodeFields))
      end
    end
    out[i] = entry
  end
end
return out
