-- Take or keep the delivery of one URL (one delivering node per URL, so its events leave in
-- order). Run by every node every NODE_LEASE_MS / 3; a node that dies stops extending, and
-- another takes over when the lease has run out.
--
-- KEYS[1]  leader          P webhook:{URLHASH}:leader
-- ARGV[1]  server id of the caller
-- ARGV[2]  lease, ms
-- ARGV[3]  '1' to take or keep it, '0' to give it up (graceful shutdown)
--
-- Returns 1 when the caller leads after the call, else 0.
local cur = redis.call('GET', KEYS[1])
if ARGV[3] == '0' then
  if cur == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 0
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
