--[[ outbox-dead-letters-4.lua — list the dead-lettered effects of a shard, oldest first.

KEYS[1]  dead sorted set `<prefix>{outbox:<shard>}:ob-dead`
KEYS[2]  effects hash `<prefix>{outbox:<shard>}:ob-effects`
KEYS[3]  attempts hash `<prefix>{outbox:<shard>}:ob-attempts`
KEYS[4]  errors hash `<prefix>{outbox:<shard>}:ob-errors`
ARGV[1]  most effects to list, integer >= 1

Returns a flat list, five entries per effect: idempotency key, when it was dead-lettered
(milliseconds), record, attempts, last error ("" for none).
]]
local entries = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local reply = {}
for i = 1, #entries, 2 do
  local id = entries[i]
  local effect = redis.call('HGET', KEYS[2], id)
  if effect then
    reply[#reply + 1] = id
    reply[#reply + 1] = entries[i + 1]
    reply[#reply + 1] = effect
    reply[#reply + 1] = tonumber(redis.call('HGET', KEYS[3], id) or '0')
    reply[#reply + 1] = redis.call('HGET', KEYS[4], id) or ''
  end
end
return reply
