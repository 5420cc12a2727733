-- Remove a delivered (or finally failed) entry and its attempt count. Idempotent.
--
-- KEYS[1]  queue stream    P webhook:{URLHASH}:queue
-- KEYS[2]  attempts        P webhook:{URLHASH}:attempts
-- ARGV[1]  entry id
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
