-- Keep one envelope for detached members (SPEC.md §13): append it to the mailbox of each that
-- is still detached and within its cap. A member whose mailbox would pass the cap is marked
-- overflowed (-1) and its mailbox dropped: its session can no longer resume.
--
-- KEYS[1]  detached hash   {P room:ROOM}:detached
-- KEYS[2]  windows hash    {P room:ROOM}:windows
-- KEYS[3..] mailbox lists  {P room:ROOM}:mailbox:ID, one per ARGV[2..]
-- ARGV[1]  the envelope, JSON
-- ARGV[2..] client ids, in KEYS[3..] order
--
-- Returns the client ids that overflowed with this call.
local payload = ARGV[1]
local size = #payload
local overflowed = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local mailbox = KEYS[i + 1]
  local used = tonumber(redis.call('HGET', KEYS[1], id) or '-1')
  if used >= 0 then
    local w = redis.call('HGET', KEYS[2], id)
    local deadline, _, cap = string.match(w or '', '^(%d+) (%d+) (%d+)')
    if deadline == nil or used + size > tonumber(cap) then
      redis.call('HSET', KEYS[1], id, -1)
      redis.call('DEL', mailbox)
      overflowed[#overflowed + 1] = id
    else
      redis.call('HINCRBY', KEYS[1], id, size)
      redis.call('RPUSH', mailbox, payload)
      redis.call('PEXPIREAT', mailbox, tonumber(deadline) + 60000)
    end
  end
end
return overflowed
