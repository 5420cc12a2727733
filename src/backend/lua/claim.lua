-- Claim a detached member's session for a resume (SPEC.md §13), atomically and once: the
-- session record is deleted, the member record names the claiming node again, and the mailbox
-- is returned and deleted.
--
-- KEYS[1]  room set        P room:ROOM
-- KEYS[2]  members hash    {P room:ROOM}:members
-- KEYS[3]  detached hash   {P room:ROOM}:detached
-- KEYS[4]  windows hash    {P room:ROOM}:windows
-- KEYS[5]  session         {P room:ROOM}:resume:HASH
-- ARGV[1]  mailbox key prefix {P room:ROOM}:mailbox: (the id is known only once KEYS[5] is
--          read; the key is in the same hash slot as every key above)
-- ARGV[2]  server id of the claiming node
-- ARGV[3]  token hash
-- ARGV[4]  relay grace, ms: a session detached less than this long ago is not claimed yet
-- ARGV[5]  the client id the token names, or '' (only used when there is no session)
--
-- Returns { status, id, mailbox, members, detachedMs, detached }: status 1 resumed, 0 unknown
-- (then id is the server id of the node the named client is attached to, if it is), -1 window
-- ended, -2 overflowed, -3 too early (then detachedMs is the wait, ms); members
-- {id1, record1, ...}; detached {id1, deadline1, ...} of the other detached members.
local id = redis.call('GET', KEYS[5])
if not id then
  if ARGV[5] ~= '' and redis.call('SISMEMBER', KEYS[1], ARGV[5]) == 1 then
    local owner = string.match(redis.call('HGET', KEYS[2], ARGV[5]) or '', '"node":"([^"]*)"')
    if owner and owner ~= '' then return { 0, owner } end
  end
  return { 0 }
end
local w = redis.call('HGET', KEYS[4], id)
local deadline, detachedAt, _, hash = string.match(w or '', '^(%d+) (%d+) (%d+) (%S+)$')
if deadline == nil or hash ~= ARGV[3] then
  redis.call('DEL', KEYS[5])
  return { 0 }
end
if redis.call('HGET', KEYS[3], id) == '-1' then return { -2, id } end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now >= tonumber(deadline) then return { -1, id } end
local early = tonumber(detachedAt) + tonumber(ARGV[4]) - now
if early > 0 then return { -3, id, {}, {}, early } end

local mailboxKey = ARGV[1] .. id
local mailbox = redis.call('LRANGE', mailboxKey, 0, -1)
redis.call('DEL', KEYS[5], mailboxKey)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
local record = redis.call('HGET', KEYS[2], id)
if record then
  record = string.gsub(record, '"node":"[^"]*"', '"node":"' .. ARGV[2] .. '"', 1)
  record = string.gsub(record, ',"detached":true', '', 1)
  redis.call('HSET', KEYS[2], id, record)
end

local ids = redis.call('SMEMBERS', KEYS[1])
local records = redis.call('HMGET', KEYS[2], unpack(ids))
local members = {}
for i, m in ipairs(ids) do
  members[#members + 1] = m
  members[#members + 1] = records[i] or ''
end
local detached = {}
local flat = redis.call('HGETALL', KEYS[4])
for i = 1, #flat, 2 do
  detached[#detached + 1] = flat[i]
  detached[#detached + 1] = string.match(flat[i + 1], '^(%d+)')
end
return { 1, id, mailbox, members, now - tonumber(detachedAt), detached }
