-- The fast path of one callback: Bloom pre-check plus an atomic claim with a TTL.
-- KEYS[1] Bloom bitmap of this window, KEYS[2] of the previous window,
-- KEYS[3] claim hash (state, owner, hash, locked, response)
-- ARGV: item, m, k, owner, payload_hash, now_ms, lock_timeout_ms, ttl_ms, bloom_ttl_ms
-- (bloom_ttl_ms 0: no rotation, KEYS[2] unused)
-- Replies: {'NEW'} never seen, claimed; {'CLAIMED'} maybe seen before, claimed (SQL decides);
-- {'DONE', hash, response}; {'BUSY', hash, retry_ms}; {'TAKEOVER', hash} stale lock taken over.
local item, m, k, owner, phash = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local now, lock_timeout, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local bloom_ttl = tonumber(ARGV[9])

local function claim(reply)
  redis.call('HSET', KEYS[3], 'state', 'P', 'owner', owner, 'hash', phash, 'locked', now)
  redis.call('PEXPIRE', KEYS[3], ttl)
  return reply
end

local seen = bloom_add(KEYS[1], item, m, k)
if seen == 0 and bloom_ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], bloom_ttl)
  seen = bloom_check(KEYS[2], item, m, k)
end
if seen == 0 then
  redis.call('DEL', KEYS[3])
  return claim({'NEW'})
end
local held = redis.call('HMGET', KEYS[3], 'state', 'owner', 'hash', 'locked', 'response')
if not held[1] then
  return claim({'CLAIMED'})
end
if held[1] == 'D' then
  return {'DONE', held[3], held[5]}
end
if held[3] ~= phash then
  return {'BUSY', held[3], '0'}
end
local age = now - tonumber(held[4])
if age < lock_timeout then
  return {'BUSY', held[3], tostring(lock_timeout - age)}
end
redis.call('HSET', KEYS[3], 'owner', owner, 'locked', now)
return {'TAKEOVER', held[3]}
