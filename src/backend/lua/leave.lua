-- Leave a room (SPEC.md §5): remove the member; delete the room when it is empty, else refresh
-- its TTL. Idempotent.
--
-- KEYS[1]  room set        P room:ROOM
-- KEYS[2]  members hash    {P room:ROOM}:members
-- ARGV[1]  client id
-- ARGV[2]  room TTL, seconds
-- KEYS[3]  optional: this node's room index  P node:SERVER:rooms, ARGV[3] the room id, removed
--          from it (single Redis only: another slot) when the node has no member left there.
--
-- Returns { removed, remaining }: removed 1 when the client was a member, else 0; remaining the
-- members left (removed 1 and remaining 0: the room finished, SPEC.md §15).
local removed = redis.call('SREM', KEYS[1], ARGV[1])
if KEYS[3] then redis.call('SREM', KEYS[3], ARGV[3]) end
redis.call('HDEL', KEYS[2], ARGV[1])
local remaining = redis.call('SCARD', KEYS[1])
if remaining == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
else
  local ttl = tonumber(ARGV[2])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return { removed, remaining }
