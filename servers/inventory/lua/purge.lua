-- Forget finished (committed or released) reservations once their keep-until time has passed.
-- KEYS: reservation records, finished index ; ARGV: now ms, batch size
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return #ids
