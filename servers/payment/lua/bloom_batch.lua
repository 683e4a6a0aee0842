-- Add or test many items in one call (bulk load, measurement, benchmarks).
-- KEYS[1] bitmap; ARGV: mode ('add' | 'check'), m, k, item...
-- Returns how many items were (maybe) present before the call.
local m, k = tonumber(ARGV[2]), tonumber(ARGV[3])
local present = 0
if ARGV[1] == 'check' then
  for i = 4, #ARGV do
    present = present + bloom_check(KEYS[1], ARGV[i], m, k)
  end
  return present
end
local group = math.max(1, math.floor(1500 / k))  -- keeps unpack() under Lua's stack limit
local i = 4
while i <= #ARGV do
  local ops, items = {}, 0
  while i <= #ARGV and items < group do
    bloom_set_ops(ops, ARGV[i], m, k)
    items = items + 1
    i = i + 1
  end
  present = present + bloom_count(redis.call('BITFIELD', KEYS[1], unpack(ops)), items, k)
end
return present
