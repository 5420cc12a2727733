-- One distributed rate-limit counter (SPEC.md §6): add this node's hits of the current window
-- and return the cluster total. Called for every key of a sync batch in one pipelined write, a
-- few times a second, never per message.
--
-- KEYS[1]  counter         P rl:WINDOW_START:KEY   (KEY is e.g. msg-ip:IP, msg-room:ROOM)
-- ARGV[1]  this node's hits since its last sync
-- ARGV[2]  expiry, ms (the window and the next one, which still weighs the previous window)
--
-- Returns the total.
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
