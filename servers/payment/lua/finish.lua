-- Store the outcome of a claimed callback so replays are answered from Redis.
-- KEYS[1] claim hash; ARGV: payload_hash, response, ttl_ms
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', 'D', 'hash', ARGV[1], 'response', ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
