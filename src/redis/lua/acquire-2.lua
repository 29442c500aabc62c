--[[ acquire-2.lua — grant a lease on a key and mint its fencing token in one atomic step.

KEYS[1]  lock key   `<prefix>{<key>}:lock`, a string "<token>:<owner>" with a PX expiry
KEYS[2]  fence key  `<prefix>{<key>}:fence`, the key's token counter; never expires, never deleted
ARGV[1]  owner id (any string)
ARGV[2]  lease time to live, integer milliseconds >= 1

Returns the new token (integer >= 1) when the lease is granted, 0 when the key is held by anyone
(the caller included: no re-entrance).

Minting here, not in a separate INCR after acquiring, is what makes the token mean "the lease that
was granted last": two grants can never get the same token or the tokens in the wrong order. Both
keys carry the same hash tag, so they share a Redis Cluster slot.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local token = redis.call('INCR', KEYS[2])
-- %d, not tostring: tostring prints integers above 1e14 in exponent form.
redis.call('SET', KEYS[1], string.format('%d', token) .. ':' .. ARGV[1], 'PX', ARGV[2])
return token
