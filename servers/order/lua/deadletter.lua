-- Move one entry that keeps failing to the dead-letter stream, with its error, and ack it.
-- KEYS: partition stream, partition backlog counter, partition failure counts, dead-letter stream
-- ARGV: group, entry id, kind, doc, error text
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 then
  return 0
end
redis.call('XADD', KEYS[4], '*', 'source', ARGV[2], 'kind', ARGV[3], 'doc', ARGV[4], 'error', ARGV[5])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('DECRBY', KEYS[2], 1)
return 1
