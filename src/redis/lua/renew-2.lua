--[[ renew-2.lua — keep a run of a key counted and collect the overlaps recorded on it (the exclusivity counter's heartbeat).

KEYS[1]  runs key `<prefix>{<key>}:runs` (see increment-2.lua)
KEYS[2]  overlaps key `<prefix>{<key>}:overlaps` (see increment-2.lua)
ARGV[1]  holder id
ARGV[2]  entry time to live, integer milliseconds >= 1
ARGV[3]  how long an expired entry is remembered, integer milliseconds >= 0 (for the keys' expiry)

Returns {overlaps, concurrent}: the runs of the key that started while this one was in progress
since it was last collected, and the most runs in progress at one of those starts (0 without
overlaps). The record is cleared, so each overlap is collected once. Returns {-1, 0} when the
holder is not in the set (ended, or forgotten after a pause longer than it is remembered): it is
not added back.
]]
local holder = ARGV[1]
if not redis.call('ZSCORE', KEYS[1], holder) then
  return { -1, 0 }
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, holder)
local overlaps = tonumber(redis.call('HGET', KEYS[2], 'n:' .. holder) or '0')
local concurrent = 0
if overlaps > 0 then
  concurrent = tonumber(redis.call('HGET', KEYS[2], 'c:' .. holder) or '0')
  redis.call('HDEL', KEYS[2], 'n:' .. holder, 'c:' .. holder)
end
local keep = ttl + tonumber(ARGV[3])
for _, name in ipairs(KEYS) do
  if redis.call('PTTL', name) < keep then
    redis.call('PEXPIRE', name, keep)
  end
end
return { overlaps, concurrent }
