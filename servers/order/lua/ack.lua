-- Acknowledge written entries, drop them from the stream and shrink the backlog by exactly the
-- number acknowledged, so a redelivered entry acked twice is counted once.
-- KEYS: partition stream, partition backlog counter, partition failure counts
-- ARGV: group, entry ids...
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
if acked > 0 then
  redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
  redis.call('HDEL', KEYS[3], unpack(ARGV, 2))
  redis.call('DECRBY', KEYS[2], acked)
end
return acked
