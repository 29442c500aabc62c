--[[ put-2.lua — fenced write: check the token, check the version, record, in one atomic step.

KEYS[1]  state key `<prefix>{<key>}:state`, a hash: v (serialized value), t (token), o (owner),
         n (version, 1 for the first accepted write)
KEYS[2]  fence key `<prefix>{<key>}:fence`, the key's token counter (same hash tag, same slot)
ARGV[1]  token of the write, decimal integer >= 1
ARGV[2]  owner of the write
ARGV[3]  serialized value
ARGV[4]  expected version ("" for none, "0" for "no record yet")
ARGV[5]  "1": raise the fence counter here to the highest token seen; "0": leave it alone

Returns {1, newVersion} when written; {0, currentToken} when the token is stale (below the
record's, or equal to it from another owner); {-1, currentVersion} when ARGV[4] does not match.

The staleness check comes first, so a stale writer learns it is stale rather than being told to
retry. Raising the counter to the highest token seen (on a rejection and on an accepted write)
means a counter that went back, e.g. evicted or lost while the state survived, can never again
hand out a token this store has seen.
]]
local token = tonumber(ARGV[1])
local owner = ARGV[2]
local record = redis.call('HMGET', KEYS[1], 't', 'o', 'n')

local function raise(to)
  if ARGV[5] ~= '1' then
    return
  end
  local counter = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
  if counter < to then
    redis.call('SET', KEYS[2], string.format('%d', to))
  end
end

local version = 0
if record[1] then
  local current = tonumber(record[1])
  if token < current or (token == current and owner ~= record[2]) then
    raise(current)
    return {0, current}
  end
  version = tonumber(record[3])
end
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= version then
  return {-1, version}
end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 't', ARGV[1], 'o', owner, 'n', version + 1)
raise(token)
return {1, version + 1}
