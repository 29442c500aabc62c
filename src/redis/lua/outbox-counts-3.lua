--[[ outbox-counts-3.lua — count the effects of a shard by status.

KEYS[1]  due sorted set `<prefix>{outbox:<shard>}:ob-due` (pending)
KEYS[2]  done sorted set `<prefix>{outbox:<shard>}:ob-done`
KEYS[3]  dead sorted set `<prefix>{outbox:<shard>}:ob-dead`

Returns {pending, done, dead}.
]]
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3])}
