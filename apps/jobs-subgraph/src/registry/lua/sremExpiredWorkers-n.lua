--[[ Removes ids whose manifest key is still missing at the moment of removal, so a worker that registers
  between our read and this step (SADD before its first SET) is not dropped.
  KEYS[1] the workers set   KEYS[2..] their manifest keys   ARGV the ids, in the same order
  Returns how many ids were removed. ]]
local removed = 0
for i, id in ipairs(ARGV) do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then
    removed = removed + redis.call('SREM', KEYS[1], id)
  end
end
return removed
