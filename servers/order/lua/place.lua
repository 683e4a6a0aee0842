-- Record a new order's hot state and append its OrderPlaced entry, atomically, in one slot.
-- KEYS: order hash, partition stream, partition backlog counter, partition payment-due index
-- ARGV: order id, order json, status, version, payment deadline ms
-- A second call for the same id changes nothing (the order id is unique per process anyway).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 'EXISTS'
end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'status', ARGV[3], 'version', ARGV[4])
redis.call('ZADD', KEYS[4], tonumber(ARGV[5]), ARGV[1])
redis.call('XADD', KEYS[2], '*', 'kind', 'placed', 'doc', ARGV[2])
redis.call('INCR', KEYS[3])
return 'OK'
