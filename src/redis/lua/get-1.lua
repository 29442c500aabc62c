--[[ get-1.lua — read a fenced record.

KEYS[1]  state key `<prefix>{<key>}:state` (see put-2.lua)

Returns {value, token, owner, version}, each nil when no write was ever accepted for the key.
]]
return redis.call('HMGET', KEYS[1], 'v', 't', 'o', 'n')
