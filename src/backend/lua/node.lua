-- Node liveness, run by every node once per NODE_LEASE_MS / 3 whatever its room count: extend
-- this node's lease and, when allowed, claim nodes whose lease expired (they crashed) for
-- reaping. A claim extends the dead node's score by one lease, so concurrent reapers do not
-- all reap it; a reaper that dies mid-way leaves the claim to lapse and another takes over.
--
-- KEYS[1]  node leases     P nodes                  server id -> lease expiry, ms, Redis clock
-- ARGV[1]  server id of this node
-- ARGV[2]  lease, ms
-- ARGV[3]  '1' when the caller may reap, else '0'
-- ARGV[4]  at most this many nodes claimed per call
--
-- Returns { present, claimed }: present 1 when this node's lease was still there (0: Redis
-- lost it, or a reaper removed it: this node must re-register its members); claimed lists
-- server ids to reap.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
local present = redis.call('ZSCORE', KEYS[1], ARGV[1]) and 1 or 0
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])

local claimed = {}
if ARGV[3] == '1' then
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[4]))
  for _, node in ipairs(expired) do
    redis.call('ZADD', KEYS[1], now + lease, node)
    claimed[#claimed + 1] = node
  end
end
return { present, claimed }
