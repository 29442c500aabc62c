--[[ outbox-commit-3.lua — fenced commit of a key's state and its effects, in one atomic step.

KEYS[1]  state key `<prefix>{outbox:<shard>}:ob-state:<key>`, a hash as put-2.lua's: v (value),
         t (token), o (owner), n (version)
KEYS[2]  effects hash `<prefix>{outbox:<shard>}:ob-effects`: idempotency key -> effect record, JSON
KEYS[3]  due sorted set `<prefix>{outbox:<shard>}:ob-due`: pending idempotency key -> when it is
         due (milliseconds, server clock)
ARGV[1]  token of the commit, decimal integer >= 1
ARGV[2]  owner of the commit
ARGV[3]  serialized value
ARGV[4]  expected version ("" for none, "0" for "no record yet")
ARGV[5]  number of effects, n >= 0
ARGV[6..5+2n]  pairs: idempotency key, effect record (a JSON object without "c")

Returns {1, newVersion, created_1, …, created_n} when committed, created_i being 1 for an effect
added and 0 for one whose idempotency key the hash already held (kept as it was); {0, currentToken}
when the token is stale (below the record's, or equal to it from another owner); {-1,
currentVersion} when ARGV[4] does not match. A rejected commit writes nothing at all.

Every key shares the shard's hash tag, so the script runs on one Cluster node. The record's "c"
(creation time) is the server's clock, prepended here.
]]
local token = tonumber(ARGV[1])
local owner = ARGV[2]
local record = redis.call('HMGET', KEYS[1], 't', 'o', 'n')

local version = 0
if record[1] then
  local current = tonumber(record[1])
  if token < current or (token == current and owner ~= record[2]) then
    return {0, current}
  end
  version = tonumber(record[3])
end
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= version then
  return {-1, version}
end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 't', ARGV[1], 'o', owner, 'n', version + 1)

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local reply = {1, version + 1}
local n = tonumber(ARGV[5])
for i = 1, n do
  local id = ARGV[4 + 2 * i]
  if redis.call('HEXISTS', KEYS[2], id) == 1 then
    reply[#reply + 1] = 0
  else
    local effect = ARGV[5 + 2 * i]
    redis.call('HSET', KEYS[2], id, '{"c":' .. string.format('%d', now) .. ',' .. string.sub(effect, 2))
    redis.call('ZADD', KEYS[3], now, id)
    reply[#reply + 1] = 1
  end
end
return reply
