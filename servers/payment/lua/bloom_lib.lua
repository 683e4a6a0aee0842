-- Bloom filter helpers, prepended to the scripts that need them. Bit positions come from
-- Kirsch-Mitzenmacher double hashing over one SHA-1 of the item: (h1 + i * h2) mod m.
local function bloom_hashes(item)
  local digest = redis.sha1hex(item)
  return tonumber(string.sub(digest, 1, 8), 16), tonumber(string.sub(digest, 9, 16), 16)
end

-- Append BITFIELD SET ops for the item's k bits (SET answers with the old bits).
local function bloom_set_ops(ops, item, m, k)
  local h1, h2 = bloom_hashes(item)
  for i = 0, k - 1 do
    ops[#ops + 1] = 'SET'; ops[#ops + 1] = 'u1'; ops[#ops + 1] = (h1 + i * h2) % m
    ops[#ops + 1] = 1
  end
end

-- How many of `items` consecutive groups of k old bits were all set (items maybe seen before).
local function bloom_count(bits, items, k)
  local present = 0
  for j = 0, items - 1 do
    local all = 1
    for i = 1, k do
      if bits[j * k + i] == 0 then all = 0; break end
    end
    present = present + all
  end
  return present
end

-- Set the item's bits in one call; 1 when all were set already (maybe seen), 0 when new.
local function bloom_add(key, item, m, k)
  local ops = {}
  bloom_set_ops(ops, item, m, k)
  return bloom_count(redis.call('BITFIELD', key, unpack(ops)), 1, k)
end

-- Test without setting; stops at the first clear bit, which for a new item comes early.
local function bloom_check(key, item, m, k)
  local h1, h2 = bloom_hashes(item)
  for i = 0, k - 1 do
    if redis.call('GETBIT', key, (h1 + i * h2) % m) == 0 then return 0 end
  end
  return 1
end
