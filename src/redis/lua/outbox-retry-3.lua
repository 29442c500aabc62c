--[[ outbox-retry-3.lua — make a claimed effect due again after a delay, recording why.

KEYS[1]  due sorted set `<prefix>{outbox:<shard>}:ob-due`
KEYS[2]  attempts hash `<prefix>{outbox:<shard>}:ob-attempts`
KEYS[3]  errors hash `<prefix>{outbox:<shard>}:ob-errors`
ARGV[1]  idempotency key
ARGV[2]  the claim's attempt number
ARGV[3]  delay, integer milliseconds >= 0
ARGV[4]  error text

Returns 1 when rescheduled, 0 (changing nothing) when the effect is no longer pending or ARGV[2]
is not its latest claim: a claimer whose claim expired must not push back the claim that followed.
]]
local id = ARGV[1]
if not redis.call('ZSCORE', KEYS[1], id) then
  return 0
end
if tonumber(redis.call('HGET', KEYS[2], id) or '0') ~= tonumber(ARGV[2]) then
  return 0
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), id)
redis.call('HSET', KEYS[3], id, ARGV[4])
return 1
