--[[ outbox-complete-4.lua — mark claimed effects of one shard sent.

KEYS[1]  due sorted set `<prefix>{outbox:<shard>}:ob-due`
KEYS[2]  dead sorted set `<prefix>{outbox:<shard>}:ob-dead`: idempotency key -> when dead-lettered
KEYS[3]  done sorted set `<prefix>{outbox:<shard>}:ob-done`: idempotency key -> when sent
KEYS[4]  effects hash `<prefix>{outbox:<shard>}:ob-effects`
ARGV[1..n]  idempotency keys (the completions a client gathered in one event-loop turn)

Returns a list with one entry per ARGV: 1 when the effect is now marked sent, 0 when it was already
(another claim sent it, or it came twice in ARGV) or is unknown. An effect dead-lettered meanwhile
by another claimer's failure was sent after all: it is moved to done.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local reply = {}
for i, id in ipairs(ARGV) do
  if redis.call('HEXISTS', KEYS[4], id) == 0 or redis.call('ZSCORE', KEYS[3], id) then
    reply[i] = 0
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZADD', KEYS[3], now, id)
    reply[i] = 1
  end
end
return reply
