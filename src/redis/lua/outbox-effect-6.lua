--[[ outbox-effect-6.lua — read one effect of a shard.

KEYS[1]  effects hash `<prefix>{outbox:<shard>}:ob-effects`
KEYS[2]  attempts hash `<prefix>{outbox:<shard>}:ob-attempts`
KEYS[3]  errors hash `<prefix>{outbox:<shard>}:ob-errors`
KEYS[4]  due sorted set `<prefix>{outbox:<shard>}:ob-due` (pending effects)
KEYS[5]  dead sorted set `<prefix>{outbox:<shard>}:ob-dead`
KEYS[6]  done sorted set `<prefix>{outbox:<shard>}:ob-done`
ARGV[1]  idempotency key

Returns {record, attempts, last error or "", status} with status "pending", "dead" or "done", or an
empty list when the shard holds no such effect.
]]
local id = ARGV[1]
local effect = redis.call('HGET', KEYS[1], id)
if not effect then
  return {}
end
local status = 'pending'
if redis.call('ZSCORE', KEYS[6], id) then
  status = 'done'
elseif redis.call('ZSCORE', KEYS[5], id) then
  status = 'dead'
end
return {effect, tonumber(redis.call('HGET', KEYS[2], id) or '0'), redis.call('HGET', KEYS[3], id) or '', status}
