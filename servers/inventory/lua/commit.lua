-- Turn a reservation's units into sold units, once.
-- KEYS: stock hash, reservation records, expiry index, finished index
-- ARGV: reservation id, keep-until ms
local record = redis.call('HGET', KEYS[2], ARGV[1])
if not record then
  return 'NOT_FOUND'
end
local state = string.sub(record, 1, 1)
if state == 'C' then
  return 'ALREADY'
elseif state == 'X' then
  return 'RELEASED'
end
local _, _, quantity = string.find(record, '^R|(%d+)|')
quantity = tonumber(quantity)
redis.call('HINCRBY', KEYS[1], 'reserved', -quantity)
redis.call('HINCRBY', KEYS[1], 'sold', quantity)
redis.call('HSET', KEYS[2], ARGV[1], 'C' .. string.sub(record, 2))
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return 'OK'
