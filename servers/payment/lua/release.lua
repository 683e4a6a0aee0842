-- Give up a claim we hold (the work failed transiently), so a retry need not wait for the lock.
-- KEYS[1] claim hash; ARGV: owner
local state = redis.call('HMGET', KEYS[1], 'state', 'owner')
if state[1] == 'P' and state[2] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
