-- Remove a dead node's members from one room (the reaper found the room in the dead node's
-- room index). Atomic per room, so of several reapers racing only one removes a member and
-- only that one announces it: peer-disconnected goes out once.
--
-- KEYS[1]  room set        P room:ROOM
-- KEYS[2]  members hash    {P room:ROOM}:members
-- ARGV[1]  server id of the dead node
-- ARGV[2]  room TTL, seconds
--
-- Returns { removed, remaining }: the client ids removed, and the members left (0 with some
-- removed: the reaping finished the room, SPEC.md §15).
local needle = '"node":"' .. ARGV[1] .. '"'
local flat = redis.call('HGETALL', KEYS[2])
local reaped = {}
for i = 1, #flat, 2 do
  if string.find(flat[i + 1], needle, 1, true) then
    local id = flat[i]
    if redis.call('SREM', KEYS[1], id) == 1 then reaped[#reaped + 1] = id end
    redis.call('HDEL', KEYS[2], id)
  end
end
if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
elseif #reaped > 0 then
  local ttl = tonumber(ARGV[2])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return { reaped, redis.call('SCARD', KEYS[1]) }
