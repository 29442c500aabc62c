--[[ extend-1.lua — extend a lease, only if it is still held with the same owner and token.

KEYS[1]  lock key `<prefix>{<key>}:lock`
ARGV[1]  the lease as stored: "<token>:<owner>"
ARGV[2]  new time to live from now, integer milliseconds >= 1

Returns 1 when extended, 0 when the lease expired, was released or belongs to another grant.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
