--[[ next-token-1.lua — mint a fencing token without a lease (broker-routed modes).

KEYS[1]  fence key `<prefix>{<key>}:fence`, the same counter the lock mints from

Returns the new token (integer >= 1). A plain INCR, kept as a script so that every operation of the
adapter goes through one EVALSHA path with one error mapping.
]]
return redis.call('INCR', KEYS[1])
