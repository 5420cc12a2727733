-- Join a room within its capacity (SPEC.md §5), atomically: of N joins racing for the last
-- place exactly one wins. Liveness is per node (node.lua, reap.lua): a crashed node's members
-- are removed by the reaper, so nothing here looks at leases.
--
-- KEYS[1]  room set        P room:ROOM              client ids (the SPEC's membership set)
-- KEYS[2]  members hash    {P room:ROOM}:members    client id -> member record (JSON: node,
--                                                    joinedAt, v, subject?)
-- ARGV[1]  client id
-- ARGV[2]  capacity
-- ARGV[3]  room TTL, seconds
-- KEYS[3]  windows hash    {P room:ROOM}:windows    detached client id -> "deadline ..." (§13)
-- ARGV[4]  the member record
--
-- Returns { ok, members, detached, started }: ok 1 (joined or already a member) or 0 (full);
-- members is {id1, record1, id2, record2, ...} after the join (empty when full; record '' if
-- missing); detached {id1, deadline1, ...} of the members that are detached (SPEC.md §13);
-- started 1 when this join took the room from no member to one (webhooks, SPEC.md §15).
local id = ARGV[1]
local started = 0
if redis.call('SISMEMBER', KEYS[1], id) == 0 then
  local count = redis.call('SCARD', KEYS[1])
  if count >= tonumber(ARGV[2]) then
    return { 0, {}, {}, 0 }
  end
  if count == 0 then started = 1 end
  redis.call('SADD', KEYS[1], id)
end
redis.call('HSET', KEYS[2], id, ARGV[4])
local ttl = tonumber(ARGV[3])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)

local ids = redis.call('SMEMBERS', KEYS[1])
local records = redis.call('HMGET', KEYS[2], unpack(ids))
local members = {}
for i, m in ipairs(ids) do
  members[#members + 1] = m
  members[#members + 1] = records[i] or ''
end
local detached = {}
if redis.call('EXISTS', KEYS[3]) == 1 then -- usually not: no member is detached
  local flat = redis.call('HGETALL', KEYS[3])
  for i = 1, #flat, 2 do
    detached[#detached + 1] = flat[i]
    detached[#detached + 1] = string.match(flat[i + 1], '^(%d+)')
  end
end
return { 1, members, detached, started }
