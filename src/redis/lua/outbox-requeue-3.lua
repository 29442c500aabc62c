--[[ outbox-requeue-3.lua — make a dead-lettered effect pending again, due now, attempts reset.

KEYS[1]  due sorted set `<prefix>{outbox:<shard>}:ob-due`
KEYS[2]  dead sorted set `<prefix>{outbox:<shard>}:ob-dead`
KEYS[3]  attempts hash `<prefix>{outbox:<shard>}:ob-attempts`
ARGV[1]  idempotency key

Returns 1 when requeued, 0 when the effect is not dead-lettered. Its last error is kept.
]]
local id = ARGV[1]
if not redis.call('ZSCORE', KEYS[2], id) then
  return 0
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', KEYS[1], now, id)
redis.call('HSET', KEYS[3], id, 0)
return 1
