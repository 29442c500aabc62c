--[[ outbox-complete-4.lua — mark a claimed effect sent.

KEYS[1]  due sorted set `<prefix>{outbox:<shard>}:ob-due`
KEYS[2]  dead sorted set `<prefix>{outbox:<shard>}:ob-dead`: idempotency key -> when dead-lettered
KEYS[3]  done sorted set `<prefix>{outbox:<shard>}:ob-done`: idempotency key -> when sent
KEYS[4]  effects hash `<prefix>{outbox:<shard>}:ob-effects`
ARGV[1]  idempotency key

Returns 1 when the effect is now marked sent, 0 when it was already (another claim sent it) or is
unknown. An effect dead-lettered meanwhile by another claimer's failure was sent after all: it is
moved to done.
]]
local id = ARGV[1]
if redis.call('HEXISTS', KEYS[4], id) == 0 or redis.call('ZSCORE', KEYS[3], id) then
  return 0
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', KEYS[3], now, id)
return 1
