--[[ outbox-purge-4.lua — forget sent effects of a shard older than the retention, a batch at a time.

KEYS[1]  done sorted set `<prefix>{outbox:<shard>}:ob-done`
KEYS[2]  effects hash `<prefix>{outbox:<shard>}:ob-effects`
KEYS[3]  attempts hash `<prefix>{outbox:<shard>}:ob-attempts`
KEYS[4]  errors hash `<prefix>{outbox:<shard>}:ob-errors`
ARGV[1]  retention, integer milliseconds >= 0
ARGV[2]  most effects to forget in this call, integer >= 1 (bounds the time Redis is busy)

Returns how many were forgotten; the caller calls again while that equals ARGV[2].
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZREM', KEYS[1], id)
end
return #ids
