-- End a detached member's session when its window has ended or its mailbox overflowed, or at
-- once when the server API removes it (SPEC.md §13, §14): it stops being a member. Of several nodes racing, one gets 0 and announces
-- the leave, so the others hear peer-disconnected once.
--
-- KEYS[1]  room set        P room:ROOM
-- KEYS[2]  members hash    {P room:ROOM}:members
-- KEYS[3]  detached hash   {P room:ROOM}:detached
-- KEYS[4]  windows hash    {P room:ROOM}:windows
-- KEYS[5]  mailbox list    {P room:ROOM}:mailbox:ID
-- ARGV[1]  client id
-- ARGV[2]  '1': end it now, whatever its window (API removal); '0': only if ended/overflowed
--
-- Returns { status, remaining }: status 0 ended by this call, 1 window still open, 2 attached
-- (it resumed), 3 no trace; remaining the members left (status 0 and remaining 0: this call
-- finished the room, SPEC.md §15).
local id = ARGV[1]
local used = redis.call('HGET', KEYS[3], id)
if not used then
  return { redis.call('SISMEMBER', KEYS[1], id) == 1 and 2 or 3, -1 }
end
if used ~= '-1' and ARGV[2] ~= '1' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local deadline = string.match(redis.call('HGET', KEYS[4], id) or '', '^(%d+)')
  if deadline ~= nil and now < tonumber(deadline) then return { 1, -1 } end
end
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
redis.call('DEL', KEYS[5])
redis.call('SREM', KEYS[1], id)
redis.call('HDEL', KEYS[2], id)
if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
end
return { 0, redis.call('SCARD', KEYS[1]) }
