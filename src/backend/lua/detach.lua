-- Detach a member whose connection was lost (SPEC.md §13): it stays a member (it keeps its
-- place) but leaves the lease set, so node liveness never reaps it; its window and mailbox
-- accounting start, and its session record maps the hash of its resume token to it.
--
-- KEYS[1]  room set        P room:ROOM
-- KEYS[2]  lease zset      {P room:ROOM}:lease
-- KEYS[3]  owners hash     {P room:ROOM}:owners       client id -> '' while detached
-- KEYS[4]  detached hash   {P room:ROOM}:detached     client id -> mailbox bytes used, -1 overflowed
-- KEYS[5]  windows hash    {P room:ROOM}:windows      client id -> "deadline detachedAt cap tokenHash"
-- KEYS[6]  session         {P room:ROOM}:resume:HASH  -> client id
-- KEYS[7]  mailbox list    {P room:ROOM}:mailbox:ID
-- ARGV[1]  client id
-- ARGV[2]  window, ms
-- ARGV[3]  mailbox cap, bytes
-- ARGV[4]  token hash
-- ARGV[5]  room TTL, seconds
--
-- Returns the window end (ms, Redis clock), or -1 when the client is not a member (reaped).
local id = ARGV[1]
if redis.call('SISMEMBER', KEYS[1], id) == 0 then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
local deadline = now + window

redis.call('ZREM', KEYS[2], id)
redis.call('HSET', KEYS[3], id, '')
redis.call('HSET', KEYS[4], id, 0)
redis.call('HSET', KEYS[5], id, deadline .. ' ' .. now .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])
redis.call('DEL', KEYS[7])
-- The record outlives the window by a minute so a late claim reads "expired", not "unknown".
redis.call('SET', KEYS[6], id, 'PX', window + 60000)
local ttl = tonumber(ARGV[5])
for i = 1, 5 do redis.call('EXPIRE', KEYS[i], ttl) end
return deadline
