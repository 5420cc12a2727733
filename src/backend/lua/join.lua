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
-- KEYS[4]  optional: this node's room index  P node:SERVER:rooms, ARGV[5] the room id. Given
--          (single Redis only: another slot) when the node enters the room, so the index is
--          written with the join, in the same call; added even when the room is full (the node
--          takes it out again, as it would after a separate SADD).
--
-- Returns { ok, members, detached, started }: ok 1 (joined or already a member) or 0 (full);
-- members is {id1, record1, id2, record2, ...} after the join (empty when full; record '' if
-- missing); detached {id1, deadline1, ...} of the members that are detached (SPEC.md §13);
-- started 1 when this join took the room from no member to one (webhooks, SPEC.md §15).
local id = ARGV[1]
local started = 0
if KEYS[4] then redis.call('SADD', KEYS[4], ARGV[5]) end
if redis.call('SADD', KEYS[1], id) == 1 then -- not a member yet: within capacity?
  local count = redis.call('SCARD', KEYS[1])
  if count > tonumber(ARGV[2]) then
    redis.call('SREM', KEYS[1], id)
    return { 0, {}, {}, 0 }
  end
  if count == 1 then started = 1 end
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
