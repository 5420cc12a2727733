-- Detach a member whose connection was lost (SPEC.md §13): it stays a member (it keeps its
-- place), but its member record names no node (`"node":""`, plus `"detached":true`), so node
-- liveness (reap.lua, which finds a dead node's members by `"node":"SERVER_ID"`) never reaps it:
-- its session ends by expire.lua, at its window's end. Its window and mailbox accounting start,
-- and its session record maps the hash of its resume token to it.
--
-- KEYS[1]  room set        P room:ROOM
-- KEYS[2]  members hash    {P room:ROOM}:members      client id -> member record (JSON)
-- KEYS[3]  detached hash   {P room:ROOM}:detached     client id -> mailbox bytes used, -1 overflowed
-- KEYS[4]  windows hash    {P room:ROOM}:windows      client id -> "deadline detachedAt cap tokenHash"
-- KEYS[5]  session         {P room:ROOM}:resume:HASH  -> client id
-- KEYS[6]  mailbox list    {P room:ROOM}:mailbox:ID
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

local record = redis.call('HGET', KEYS[2], id)
if record then
  record = string.gsub(record, '"node":"[^"]*"', '"node":""', 1)
  if not string.find(record, '"detached":true', 1, true) then
    record = string.gsub(record, '}$', ',"detached":true}', 1)
  end
  redis.call('HSET', KEYS[2], id, record)
end
redis.call('HSET', KEYS[3], id, 0)
redis.call('HSET', KEYS[4], id, deadline .. ' ' .. now .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])
redis.call('DEL', KEYS[6])
-- The record outlives the window by a minute so a late claim reads "expired", not "unknown".
redis.call('SET', KEYS[5], id, 'PX', window + 60000)
local ttl = tonumber(ARGV[5])
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ttl) end
return deadline
