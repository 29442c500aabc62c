--[[ decrement-1.lua — count a run of a key as finished. Idempotent per holder.

KEYS[1]  runs key `<prefix>{<key>}:runs` (see increment-1.lua)
ARGV[1]  holder id

Returns 1 when the holder was counted, 0 otherwise. Redis deletes the set with its last member.
]]
return redis.call('ZREM', KEYS[1], ARGV[1])
