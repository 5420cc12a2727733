-- Record that an attempt of an entry starts, so a node taking over continues the count (and
-- push.lua does not drop an entry being attempted). Nothing when the entry is gone.
--
-- KEYS[1]  queue stream    P webhook:{URLHASH}:queue
-- KEYS[2]  attempts        P webhook:{URLHASH}:attempts
-- ARGV[1]  entry id
-- ARGV[2]  attempt number
-- ARGV[3]  expiry of the attempts hash, ms (outlives any outage of every node, not forever)
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
