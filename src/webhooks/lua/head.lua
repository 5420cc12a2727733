-- The oldest queued delivery of one URL, for the node that delivers for it (the leader).
--
-- KEYS[1]  queue stream    P webhook:{URLHASH}:queue
-- KEYS[2]  leader          P webhook:{URLHASH}:leader     server id of the delivering node
-- KEYS[3]  attempts        P webhook:{URLHASH}:attempts   "ENTRY_ID N": attempts on the head
-- ARGV[1]  server id of the caller
--
-- Returns {0} when the caller is not the leader, {1} when the queue is empty, else
-- {1, entry id, event id, body, attempts so far}.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return { 0 } end
local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #entries == 0 then return { 1 } end
local entryId = entries[1][1]
local fields = entries[1][2]
local id, body = '', ''
for i = 1, #fields, 2 do
  if fields[i] == 'id' then id = fields[i + 1] elseif fields[i] == 'body' then body = fields[i + 1] end
end
local attempts = 0
local a = redis.call('GET', KEYS[3])
if a then
  local sep = string.find(a, ' ', 1, true)
  if sep and string.sub(a, 1, sep - 1) == entryId then attempts = tonumber(string.sub(a, sep + 1)) end
end
return { 1, entryId, id, body, attempts }
