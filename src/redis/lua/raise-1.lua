--[[ raise-1.lua — raise a fence counter to at least a token a fenced store has seen.

KEYS[1]  fence key `<prefix>{<key>}:fence`
ARGV[1]  the highest token the store holds for the key, decimal integer >= 1

Returns the counter after the call. Used when the fenced state lives on another Redis than the
counter: a max() is idempotent and commutative, so it is safe outside the write's atomic step.
]]
local counter = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local seen = tonumber(ARGV[1])
if counter < seen then
  redis.call('SET', KEYS[1], ARGV[1])
  return seen
end
return counter
