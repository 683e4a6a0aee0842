-- Change a SKU's stock: seed it if absent, set its available units, add units, or set its sale
-- policy. Units that come back bump the generation and publish a stock-back event.
-- KEYS: stock hash
-- ARGV: mode (seed | set | restock | sale), then
--   seed: initial units, per-user limit;  set: available;  restock: units to add;
--   sale: limit, start ms, end ms;  and always last two: channel, sku
local mode = ARGV[1]
local fields = {'initial', 'available', 'reserved', 'sold', 'limit', 'start_ms', 'end_ms', 'gen'}
if mode == 'seed' then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('HSET', KEYS[1], 'initial', ARGV[2], 'available', ARGV[2], 'reserved', 0,
      'sold', 0, 'limit', ARGV[3], 'start_ms', 0, 'end_ms', 0, 'gen', 0)
  end
  return redis.call('HMGET', KEYS[1], unpack(fields))
end
local available = redis.call('HGET', KEYS[1], 'available')
if not available then
  return {}
end
local n = #ARGV
local delta = 0
if mode == 'set' then
  delta = tonumber(ARGV[2]) - tonumber(available)
elseif mode == 'restock' then
  delta = tonumber(ARGV[2])
elseif mode == 'sale' then
  redis.call('HSET', KEYS[1], 'limit', ARGV[2], 'start_ms', ARGV[3], 'end_ms', ARGV[4])
end
if delta ~= 0 then
  redis.call('HINCRBY', KEYS[1], 'available', delta)
  redis.call('HINCRBY', KEYS[1], 'initial', delta)
end
if delta > 0 then
  local generation = redis.call('HINCRBY', KEYS[1], 'gen', 1)
  redis.call('PUBLISH', ARGV[n - 1], ARGV[n] .. ' ' .. generation)
end
return redis.call('HMGET', KEYS[1], unpack(fields))
