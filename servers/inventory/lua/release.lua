-- Return the units of reservations to the available stock, each exactly once: one id
-- (mode "one") or every reservation whose expiry has passed (mode "expired", for the sweeper).
-- A release bumps the SKU's generation and publishes "<sku> <generation>" so every process's
-- sold-out snapshot forgets the SKU.
-- KEYS: stock hash, per-user held counts, reservation records, expiry index, finished index
-- ARGV: mode, reservation id (one) or now ms (expired), batch size, channel, sku, keep-until ms
local ids
if ARGV[1] == 'one' then
  ids = {ARGV[2]}
else
  ids = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
end
local returned = 0
local statuses = {}
for i, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[3], id)
  if not record then
    statuses[i] = 'NOT_FOUND'
    redis.call('ZREM', KEYS[4], id)
  else
    local state = string.sub(record, 1, 1)
    if state == 'R' then
      local _, _, quantity, expires, user = string.find(record, '^R|(%d+)|(%d+)|(.*)$')
      quantity = tonumber(quantity)
      redis.call('HINCRBY', KEYS[1], 'available', quantity)
      redis.call('HINCRBY', KEYS[1], 'reserved', -quantity)
      if redis.call('HINCRBY', KEYS[2], user, -quantity) <= 0 then
        redis.call('HDEL', KEYS[2], user)
      end
      redis.call('HSET', KEYS[3], id, 'X' .. string.sub(record, 2))
      redis.call('ZREM', KEYS[4], id)
      redis.call('ZADD', KEYS[5], ARGV[6], id)
      returned = returned + quantity
      statuses[i] = 'OK'
    elseif state == 'X' then
      statuses[i] = 'ALREADY'
    else
      statuses[i] = 'COMMITTED'
    end
  end
end
if returned > 0 then
  local generation = redis.call('HINCRBY', KEYS[1], 'gen', 1)
  redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. generation)
end
return statuses
