-- Claim a detached member's session for a resume (SPEC.md §13), atomically and once: the
-- session record is deleted, the member is attached to the claiming node (owner and lease), and
-- its mailbox is returned and deleted.
--
-- KEYS[1]  room set        P room:ROOM
-- KEYS[2]  lease zset      {P room:ROOM}:lease
-- KEYS[3]  owners hash     {P room:ROOM}:owners
-- KEYS[4]  detached hash   {P room:ROOM}:detached
-- KEYS[5]  windows hash    {P room:ROOM}:windows
-- KEYS[6]  session         {P room:ROOM}:resume:HASH
-- ARGV[1]  mailbox key prefix {P room:ROOM}:mailbox: (the id is known only once KEYS[6] is
--          read; the key is in the same hash slot as every key above)
-- ARGV[2]  server id of the claiming node
-- ARGV[3]  lease, ms
-- ARGV[4]  token hash
-- ARGV[5]  relay grace, ms: a session detached less than this long ago is not claimed yet
-- ARGV[6]  the client id the token names, or '' (only used when there is no session)
--
-- Returns { status, id, mailbox, members, detachedMs, detached }: status 1 resumed, 0 unknown
-- (then id is the server id of the node the named client is attached to, if it is),
-- -1 window ended, -2 overflowed, -3 too early (then mailbox is absent and detachedMs is the
-- wait, ms); members {id1, server1, ...}; detached {id1, deadline1, ...} of the other detached
-- members.
local id = redis.call('GET', KEYS[6])
if not id then
  local owner = ARGV[6] ~= '' and redis.call('HGET', KEYS[3], ARGV[6])
  if owner and owner ~= '' and redis.call('SISMEMBER', KEYS[1], ARGV[6]) == 1 then
    return { 0, owner }
  end
  return { 0 }
end
local w = redis.call('HGET', KEYS[5], id)
local deadline, detachedAt, _, hash = string.match(w or '', '^(%d+) (%d+) (%d+) (%S+)$')
if deadline == nil or hash ~= ARGV[4] then
  redis.call('DEL', KEYS[6])
  return { 0 }
end
if redis.call('HGET', KEYS[4], id) == '-1' then return { -2, id } end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now >= tonumber(deadline) then return { -1, id } end
local early = tonumber(detachedAt) + tonumber(ARGV[5]) - now
if early > 0 then return { -3, id, {}, {}, early } end

local mailboxKey = ARGV[1] .. id
local mailbox = redis.call('LRANGE', mailboxKey, 0, -1)
redis.call('DEL', KEYS[6], mailboxKey)
redis.call('HDEL', KEYS[4], id)
redis.call('HDEL', KEYS[5], id)
redis.call('HSET', KEYS[3], id, ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)

local members = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  members[#members + 1] = m
  members[#members + 1] = redis.call('HGET', KEYS[3], m) or ''
end
local detached = {}
local flat = redis.call('HGETALL', KEYS[5])
for i = 1, #flat, 2 do
  detached[#detached + 1] = flat[i]
  detached[#detached + 1] = string.match(flat[i + 1], '^(%d+)')
end
return { 1, id, mailbox, members, now - tonumber(detachedAt), detached }
