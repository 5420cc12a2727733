-- Node liveness for one room, run by each node for each room it has members in, every
-- NODE_LEASE_MS / 3: extend the leases of this node's live members, re-register any that Redis
-- no longer has (it restarted without its data), then reap members whose lease expired (their
-- node stopped refreshing: it crashed). A room with live members therefore never expires.
--
-- KEYS[1]  room set        P room:ROOM
-- KEYS[2]  lease zset      {P room:ROOM}:lease
-- KEYS[3]  owners hash     {P room:ROOM}:owners
-- ARGV[1]  server id of this node
-- ARGV[2]  lease, ms
-- ARGV[3]  room TTL, seconds
-- ARGV[4]  '1' when the caller may reap expired leases, else '0'
-- ARGV[5..] this node's client ids in the room
--
-- Returns { added, reaped }: added lists the re-registered client ids; reaped is
-- {id1, server1, ...} of the members removed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = now + tonumber(ARGV[2])

local added = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  if redis.call('SADD', KEYS[1], id) == 1 then added[#added + 1] = id end
  redis.call('HSET', KEYS[3], id, ARGV[1])
  redis.call('ZADD', KEYS[2], expiry, id)
end

local reaped = {}
if ARGV[4] == '1' then
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

if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
else
  local ttl = tonumber(ARGV[3])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
return { added, reaped }
