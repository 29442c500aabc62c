--[[ outbox-dead-letter-4.lua — give up on a claimed effect, keeping it with its last error.

KEYS[1]  due sorted set `<prefix>{outbox:<shard>}:ob-due`
KEYS[2]  dead sorted set `<prefix>{outbox:<shard>}:ob-dead`
KEYS[3]  attempts hash `<prefix>{outbox:<shard>}:ob-attempts`
KEYS[4]  errors hash `<prefix>{outbox:<shard>}:ob-errors`
ARGV[1]  idempotency key
ARGV[2]  the claim's attempt number
ARGV[3]  error text

Returns 1 when dead-lettered, 0 (changing nothing) when the effect is no longer pending or ARGV[2]
is not its latest claim.
]]
local id = ARGV[1]
if not redis.call('ZSCORE', KEYS[1], id) then
  return 0
end
if tonumber(redis.call('HGET', KEYS[3], id) or '0') ~= tonumber(ARGV[2]) then
  return 0
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREM', KEYS[1], id)
redis.call('ZADD', KEYS[2], now, id)
redis.call('HSET', KEYS[4], id, ARGV[3])
return 1
