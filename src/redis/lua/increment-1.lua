--[[ increment-1.lua — count a run of a key as started (the exclusivity counter).

KEYS[1]  runs key `<prefix>{<key>}:runs`, a sorted set: member = holder (one per run),
         score = when the entry expires (milliseconds, Redis server clock)
ARGV[1]  holder id, unique per run
ARGV[2]  entry time to live, integer milliseconds >= 1

Returns the number of OTHER runs of the key in progress before this one was counted: the
article's "counter value before increment". Counting a holder again refreshes its expiry and does
not count it twice, so the same script renews long runs.

Expired entries are dropped first: a process that crashed mid-run stops being counted after the
time to live, measured on the server's clock (TIME), so no client clock is involved. The whole key
also expires once its last entry would have.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local others = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  others = others - 1
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return others
