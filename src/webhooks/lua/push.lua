-- Queue one webhook delivery for one URL (SPEC.md §15). Past the bound the oldest entries not
-- yet attempted are dropped, atomically, so the count is exact; entries being attempted (in
-- flight, or waiting for a retry: they have an attempt count) are never dropped.
--
-- KEYS[1]  queue stream    P webhook:{URLHASH}:queue      fields: id (webhook-id), key, body
-- KEYS[2]  attempts        P webhook:{URLHASH}:attempts   hash: entry id -> attempts made
-- ARGV[1]  bound (WEBHOOK_QUEUE_MAX)
-- ARGV[2]  event id
-- ARGV[3]  ordering key (the room id)
-- ARGV[4]  body
--
-- Returns the number of entries dropped.
local excess = redis.call('XLEN', KEYS[1]) + 1 - tonumber(ARGV[1])
local dropped = 0
local cursor = '-'
while excess > 0 do
  local batch = redis.call('XRANGE', KEYS[1], cursor, '+', 'COUNT', excess + 16)
  if #batch == 0 then break end
  for _, entry in ipairs(batch) do
    if excess > 0 and redis.call('HEXISTS', KEYS[2], entry[1]) == 0 then
      redis.call('XDEL', KEYS[1], entry[1])
      dropped = dropped + 1
      excess = excess - 1
    end
  end
  cursor = '(' .. batch[#batch][1]
end
redis.call('XADD', KEYS[1], '*', 'id', ARGV[2], 'key', ARGV[3], 'body', ARGV[4])
return dropped
