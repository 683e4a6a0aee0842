-- Reserve units of one SKU for one or more reservations, in order, each as if called alone.
-- Concurrent Reserve calls on a hot SKU are folded into one call of this script: the checks and
-- writes of each reservation are the same as for a single call, so a batch never oversells.
-- Every check of a reservation runs before its first write, so a refused reservation changes
-- nothing; a replayed id returns its stored record and deducts nothing.
-- KEYS: stock hash, per-user held counts, reservation records, expiry index (one hash slot)
-- ARGV: per reservation five values: id, user id, quantity, now (ms), expires at (ms)
-- Returns per reservation four values: status, available, generation, record or detail ('')
-- Record format: <state>|<quantity>|<expires at ms>|<user id>, state R(eserved) C(ommitted) X (released)
local out = {}

local function reserve(id, user, quantity_text, now, expires)
  local record = redis.call('HGET', KEYS[3], id)
  if record then
    return 'REPLAY', '0', '0', record
  end
  local stock = redis.call('HMGET', KEYS[1], 'available', 'limit', 'start_ms', 'end_ms', 'gen')
  if not stock[1] then
    return 'UNKNOWN', '0', '0', ''
  end
  local generation = stock[5] or '0'
  local start_ms = tonumber(stock[3]) or 0
  local end_ms = tonumber(stock[4]) or 0
  if now < start_ms or (end_ms > 0 and now >= end_ms) then
    return 'SALE_NOT_ACTIVE', stock[1], generation, ''
  end
  local quantity = tonumber(quantity_text)
  local limit = tonumber(stock[2]) or 0
  if limit > 0 then
    local held = tonumber(redis.call('HGET', KEYS[2], user) or '0')
    if held + quantity > limit then
      return 'LIMIT_EXCEEDED', stock[1], generation, tostring(held)
    end
  end
  local available = tonumber(stock[1])
  if available < quantity then
    return 'SOLD_OUT', stock[1], generation, ''
  end
  redis.call('HINCRBY', KEYS[1], 'available', -quantity)
  redis.call('HINCRBY', KEYS[1], 'reserved', quantity)
  redis.call('HINCRBY', KEYS[2], user, quantity)
  record = 'R|' .. quantity_text .. '|' .. expires .. '|' .. user
  redis.call('HSET', KEYS[3], id, record)
  redis.call('ZADD', KEYS[4], expires, id)
  return 'OK', tostring(available - quantity), generation, record
end

for i = 1, #ARGV, 5 do
  local status, available, generation, extra =
    reserve(ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4])
  out[#out + 1] = status
  out[#out + 1] = available
  out[#out + 1] = generation
  out[#out + 1] = extra
end
return out
