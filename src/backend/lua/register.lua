-- (Re-)register this node's members of one room: after Redis lost data (a restart without
-- persistence, a cluster master restarted empty, this node's lease reaped while it was cut
-- off), and in the slow TTL sweep that keeps a long-lived room's keys from expiring under its
-- live members. Never removes anything.
--
-- KEYS[1]  room set        P room:ROOM
-- KEYS[2]  members hash    {P room:ROOM}:members
-- ARGV[1]  room TTL, seconds
-- ARGV[2..] pairs: client id, member record
--
-- Returns the client ids that were missing from the set (re-added).
local added = {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('SADD', KEYS[1], id) == 1 then added[#added + 1] = id end
  redis.call('HSET', KEYS[2], id, ARGV[i + 1])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  local ttl = tonumber(ARGV[1])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return added
