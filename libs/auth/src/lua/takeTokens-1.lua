--[[ The per-key token bucket in one step, timed by the Redis server clock so every gateway and subgraph replica
  agrees. First gives back `refund` tokens a replica took earlier and did not spend, then takes `cost` for the
  request at hand (all or nothing), then leases up to `want` more (as many as the bucket holds) for a replica
  that spends tokens locally (the gateway's leased bucket). A plain take has want 0 and refund 0; a refund-only
  call has cost 0 and want 0.
  KEYS[1] bucket (hash: tokens, ts)   ARGV[1] capacity   ARGV[2] refill per ms   ARGV[3] cost   ARGV[4] want
  ARGV[5] refund   Returns {allowed 0|1, tokens leased, tokens left (floor), retry ms}. ]]
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local refund = tonumber(ARGV[5])
--@include redis-now
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate + refund)
local allowed = 0
local leased = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
  leased = math.max(0, math.min(want, math.floor(tokens)))
  tokens = tokens - leased
else
  retry = math.ceil((cost - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return {allowed, leased, math.floor(tokens), retry}
