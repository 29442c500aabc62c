--[[ release-1.lua — release a lease, only if it is still held with the same owner and token.

KEYS[1]  lock key `<prefix>{<key>}:lock`
ARGV[1]  the lease as stored: "<token>:<owner>"

Returns 1 when released, 0 when it had expired or belongs to another grant (left untouched).
The fence key is never touched: the counter outlives every lease.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
