-- The oldest queued deliveries of one URL, for the node that delivers for it (the leader).
--
-- KEYS[1]  queue stream    P webhook:{URLHASH}:queue      fields: id, key (room), body
-- KEYS[2]  leader          P webhook:{URLHASH}:leader     server id of the delivering node
-- KEYS[3]  attempts        P webhook:{URLHASH}:attempts   hash: entry id -> attempts made
-- ARGV[1]  server id of the caller
-- ARGV[2]  how many entries
--
-- Returns {0} when the caller is not the leader, else
-- {1, entry id, event id, key, body, attempts, entry id, ...} oldest first.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return { 0 } end
local out = { 1 }
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[2]))) do
  local fields = entry[2]
  local id, key, body = '', '', ''
  for i = 1, #fields, 2 do
    local f = fields[i]
    if f == 'id' then id = fields[i + 1]
    elseif f == 'key' then key = fields[i + 1]
    elseif f == 'body' then body = fields[i + 1] end
  end
  out[#out + 1] = entry[1]
  out[#out + 1] = id
  out[#out + 1] = key
  out[#out + 1] = body
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[3], entry[1]) or '0')
end
return out
