-- The artifact sweeps' per-tenant indexes (libs/storage artifact-sweeper.ts): each tenant has its own sorted set of
-- ids (scored with the time the sweep's clock counts from), and one sorted set of tenants per kind, scored with
-- their earliest entry, so the sweep lists the tenants with due work in one read and takes them in turns. Every
-- step that adds or removes an entry keeps the tenant's score in the same atomic step: a tenant is listed exactly
-- while its index holds an entry, at its earliest one.

-- Puts the tenant at its index's earliest score, or takes it out when its index is empty.
local function sweepIndexPlace(tenantsKey, indexKey, tenant)
  local first = redis.call('ZRANGE', indexKey, 0, 0, 'WITHSCORES')
  if first[1] then
    redis.call('ZADD', tenantsKey, first[2], tenant)
  else
    redis.call('ZREM', tenantsKey, tenant)
  end
end

local function sweepIndexAdd(tenantsKey, indexKey, tenant, score, id)
  redis.call('ZADD', indexKey, score, id)
  sweepIndexPlace(tenantsKey, indexKey, tenant)
end

local function sweepIndexRemove(tenantsKey, indexKey, tenant, id)
  if redis.call('ZREM', indexKey, id) == 1 then sweepIndexPlace(tenantsKey, indexKey, tenant) end
end
