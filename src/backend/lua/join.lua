-- Join a room within its capacity (SPEC.md §5), atomically: of N joins racing for the last
-- place exactly one wins. Expired leases (members of a crashed node) are reaped first, so a
-- ghost never holds a place past its lease.
--
-- KEYS[1]  room set        P room:ROOM              client ids (the SPEC's membership set)
-- KEYS[2]  lease zset      {P room:ROOM}:lease      client id -> lease expiry, ms, Redis clock
-- KEYS[3]  owners hash     {P room:ROOM}:owners     client id -> server id of its node
-- ARGV[1]  client id
-- ARGV[2]  capacity
-- ARGV[3]  room TTL, seconds
-- ARGV[4]  server id of the joining node
-- ARGV[5]  lease, ms
-- ARGV[6]  '1' when the caller may reap expired leases, else '0'
--
-- KEYS[4]  windows hash    {P room:ROOM}:windows    detached client id -> "deadline ..." (§13)
--
-- Returns { ok, members, reaped, detached }: ok 1 (joined or already a member) or 0 (full);
-- members is {id1, server1, id2, server2, ...} after the join (empty when full); reaped the
-- same shape; detached {id1, deadline1, ...} of the members that are detached.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local reaped = {}
if ARGV[6] == '1' then
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
  for _, id in ipairs(expired) do
    if redis.call('SREM', KEYS[1], id) == 1 then
      reaped[#reaped + 1] = id
      reaped[#reaped + 1] = redis.call('HGET', KEYS[3], id) or ''
    end
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZREM', KEYS[2], id)
  end
end

local id = ARGV[1]
if redis.call('SISMEMBER', KEYS[1], id) == 0 then
  if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return { 0, {}, reaped, {} }
  end
  redis.call('SADD', KEYS[1], id)
end
redis.call('HSET', KEYS[3], id, ARGV[4])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), id)
local ttl = tonumber(ARGV[3])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)

local members = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  members[#members + 1] = m
  members[#members + 1] = redis.call('HGET', KEYS[3], m) or ''
end
local detached = {}
local flat = redis.call('HGETALL', KEYS[4])
for i = 1, #flat, 2 do
  detached[#detached + 1] = flat[i]
  detached[#detached + 1] = string.match(flat[i + 1], '^(%d+)')
end
return { 1, members, reaped, detached }
