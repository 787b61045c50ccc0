-- The Redis server clock in ms as `now`: every replica that calls the script agrees on it.
local redis_time = redis.call('TIME')
local now = tonumber(redis_time[1]) * 1000 + math.floor(tonumber(redis_time[2]) / 1000)
