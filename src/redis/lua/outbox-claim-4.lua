--[[ outbox-claim-4.lua — claim due effects of one shard for a visibility timeout.

KEYS[1]  due sorted set `<prefix>{outbox:<shard>}:ob-due` (see outbox-commit-3.lua)
KEYS[2]  effects hash `<prefix>{outbox:<shard>}:ob-effects`
KEYS[3]  attempts hash `<prefix>{outbox:<shard>}:ob-attempts`: idempotency key -> claims so far
KEYS[4]  errors hash `<prefix>{outbox:<shard>}:ob-errors`: idempotency key -> last send error
ARGV[1]  most effects to claim, integer >= 1
ARGV[2]  visibility timeout, integer milliseconds >= 1

Returns a flat list, four entries per claimed effect, oldest due first: idempotency key, attempt
(this claim's number), effect record (JSON), last error ("" for none).

A claim moves the effect's due time to now + ARGV[2]: unless it is completed, retried or
dead-lettered first, it is due again then, for any claimer. Time is the server's clock.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local reply = {}
for _, id in ipairs(ids) do
  local effect = redis.call('HGET', KEYS[2], id)
  if effect then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
    reply[#reply + 1] = id
    reply[#reply + 1] = redis.call('HINCRBY', KEYS[3], id, 1)
    reply[#reply + 1] = effect
    reply[#reply + 1] = redis.call('HGET', KEYS[4], id) or ''
  else
    -- Due without a record: nothing to send, and it would block the head of the queue.
    redis.call('ZREM', KEYS[1], id)
  end
end
return reply
