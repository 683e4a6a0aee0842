-- Reserve units of one SKU for a reservation id. Every check runs before the first write, so a
-- refused call changes nothing; a replayed id returns its stored record and deducts nothing.
-- KEYS: stock hash, per-user held counts, reservation records, expiry index (one hash slot)
-- ARGV: reservation id, user id, quantity, now (ms), expires at (ms)
-- Record format: <state>|<quantity>|<expires at ms>|<user id>, state R(eserved) C(ommitted) X (released)
local record = redis.call('HGET', KEYS[3], ARGV[1])
if record then
  return {'REPLAY', '0', '0', record}
end
local stock = redis.call('HMGET', KEYS[1], 'available', 'limit', 'start_ms', 'end_ms', 'gen')
if not stock[1] then
  return {'UNKNOWN', '0', '0'}
end
local generation = stock[5] or '0'
local now = tonumber(ARGV[4])
local start_ms = tonumber(stock[3]) or 0
local end_ms = tonumber(stock[4]) or 0
if now < start_ms or (end_ms > 0 and now >= end_ms) then
  return {'SALE_NOT_ACTIVE', stock[1], generation}
end
local quantity = tonumber(ARGV[3])
local limit = tonumber(stock[2]) or 0
if limit > 0 then
  local held = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
  if held + quantity > limit then
    return {'LIMIT_EXCEEDED', stock[1], generation, tostring(held)}
  end
end
local available = tonumber(stock[1])
if available < quantity then
  return {'SOLD_OUT', stock[1], generation}
end
redis.call('HINCRBY', KEYS[1], 'available', -quantity)
redis.call('HINCRBY', KEYS[1], 'reserved', quantity)
redis.call('HINCRBY', KEYS[2], ARGV[2], quantity)
record = 'R|' .. ARGV[3] .. '|' .. ARGV[5] .. '|' .. ARGV[2]
redis.call('HSET', KEYS[3], ARGV[1], record)
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
return {'OK', tostring(available - quantity), generation, record}
