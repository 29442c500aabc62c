--[[ decrement-2.lua — count a run of a key as finished and collect the overlaps recorded on it. Idempotent per holder.

KEYS[1]  runs key `<prefix>{<key>}:runs` (see increment-2.lua)
KEYS[2]  overlaps key `<prefix>{<key>}:overlaps` (see increment-2.lua)
ARGV[1]  holder id

Returns {overlaps, concurrent} as renew-2.lua does, or {-1, 0} when the holder was not counted
(already finished, or forgotten). Redis deletes each key with its last member.
]]
local holder = ARGV[1]
if redis.call('ZREM', KEYS[1], holder) == 0 then
  return { -1, 0 }
end
local overlaps = tonumber(redis.call('HGET', KEYS[2], 'n:' .. holder) or '0')
local concurrent = 0
if overlaps > 0 then
  concurrent = tonumber(redis.call('HGET', KEYS[2], 'c:' .. holder) or '0')
  redis.call('HDEL', KEYS[2], 'n:' .. holder, 'c:' .. holder)
end
return { overlaps, concurrent }
