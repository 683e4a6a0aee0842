-- Compare-and-set one order transition and append its event to the order's stream partition,
-- so the writer projects the events of one order in the order they happened.
-- KEYS: order hash, partition stream, partition backlog counter, partition payment-due index,
--       partition commit outbox (paid orders whose stock is not yet committed in inventory)
-- ARGV: order id, expected status, expected version, new status, new version, new order json,
--       event name, seconds to keep the hot state once terminal (0: keep), now ms
local current = redis.call('HMGET', KEYS[1], 'status', 'version')
if not current[1] then
  return {'NOT_FOUND'}
end
if current[1] ~= ARGV[2] or current[2] ~= ARGV[3] then
  return {'CONFLICT', redis.call('HGET', KEYS[1], 'doc')}
end
redis.call('HSET', KEYS[1], 'doc', ARGV[6], 'status', ARGV[4], 'version', ARGV[5])
if ARGV[4] ~= 'PENDING_PAYMENT' then
  redis.call('ZREM', KEYS[4], ARGV[1])
end
if ARGV[4] == 'PAID' then
  redis.call('ZADD', KEYS[5], tonumber(ARGV[9]), ARGV[1])
end
local keep = tonumber(ARGV[8])
if keep > 0 then
  redis.call('EXPIRE', KEYS[1], keep)
end
redis.call('XADD', KEYS[2], '*', 'kind', ARGV[7], 'doc', ARGV[6])
redis.call('INCR', KEYS[3])
return {'OK'}
