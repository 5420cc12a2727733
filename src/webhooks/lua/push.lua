-- Queue one webhook delivery for one URL (SPEC.md §15). Past the bound the oldest waiting
-- entries are dropped, atomically, so the count is exact; the head entry once attempted (in
-- flight, or waiting for its retry) is never dropped: the bound counts the entries behind it.
--
-- KEYS[1]  queue stream    P webhook:{URLHASH}:queue      fields: id (webhook-id), body
-- KEYS[2]  attempts        P webhook:{URLHASH}:attempts   "ENTRY_ID N": attempts on the head
-- ARGV[1]  bound (WEBHOOK_QUEUE_MAX)
-- ARGV[2]  event id
-- ARGV[3]  body
--
-- Returns the number of entries dropped.
local max = tonumber(ARGV[1])
local n = redis.call('XLEN', KEYS[1])
local dropped = 0
if n >= max then
  local keep = 0
  local a = redis.call('GET', KEYS[2])
  if a then
    local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
    local sep = string.find(a, ' ', 1, true)
    if #first == 1 and sep and string.sub(a, 1, sep - 1) == first[1][1] then keep = 1 end
  end
  local excess = n + 1 - max - keep
  if excess > 0 then
    local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess + keep)
    for i = 1 + keep, #oldest do
      redis.call('XDEL', KEYS[1], oldest[i][1])
      dropped = dropped + 1
    end
  end
end
redis.call('XADD', KEYS[1], '*', 'id', ARGV[2], 'body', ARGV[3])
return dropped
