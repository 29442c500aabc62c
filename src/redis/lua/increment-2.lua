--[[ increment-2.lua — count a run of a key as started and record it on the key's other runs (the exclusivity counter).

KEYS[1]  runs key `<prefix>{<key>}:runs`, a sorted set: member = holder (one per run),
         score = when the entry stops counting as in progress (milliseconds, Redis server clock)
KEYS[2]  overlaps key `<prefix>{<key>}:overlaps`, a hash: `n:<holder>` = runs of the key that started
         while that run was in progress, not yet collected; `c:<holder>` = the most runs in progress
         at one of those starts, that run included
ARGV[1]  holder id, unique per run
ARGV[2]  entry time to live, integer milliseconds >= 1 (the session's heartbeat bound)
ARGV[3]  how long an entry that stopped renewing is still remembered after its expiry, integer
         milliseconds >= 0

Returns the number of OTHER runs of the key counted as in progress (entries not expired): the
article's "counter value before increment". Counting a holder again only refreshes its expiry.

A new run records itself as an overlap on every other entry, expired or not: whether the other run
crashed or is paused cannot be told yet. Only that run collects the record (renew-2.lua,
decrement-2.lua), which it can only do if its process is alive, so a crashed run never reports.
Entries expired for longer than ARGV[3] are forgotten with their records; both keys expire once
nothing in them can matter any more. Time is the server's (TIME): no client clock is involved.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local holder = ARGV[1]
local ttl = tonumber(ARGV[2])
local retain = tonumber(ARGV[3])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - retain)
if #old > 0 then
  for _, gone in ipairs(old) do
    redis.call('HDEL', KEYS[2], 'n:' .. gone, 'c:' .. gone)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - retain)
end
local alive = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local mine = redis.call('ZSCORE', KEYS[1], holder)
if mine then
  if tonumber(mine) > now then
    alive = alive - 1
  end
else
  local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    local other = entries[i]
    -- The runs in progress as the other run sees them: itself, this one, the others alive.
    local concurrent = alive + 2
    if tonumber(entries[i + 1]) > now then
      concurrent = alive + 1
    end
    redis.call('HINCRBY', KEYS[2], 'n:' .. other, 1)
    local most = tonumber(redis.call('HGET', KEYS[2], 'c:' .. other) or '0')
    if concurrent > most then
      redis.call('HSET', KEYS[2], 'c:' .. other, concurrent)
    end
  end
end
redis.call('ZADD', KEYS[1], now + ttl, holder)
local keep = ttl + retain
for _, name in ipairs(KEYS) do
  if redis.call('PTTL', name) < keep then
    redis.call('PEXPIRE', name, keep)
  end
end
return alive
