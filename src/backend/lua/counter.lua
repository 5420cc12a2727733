-- Distributed rate-limit counters of one window (SPEC.md §6): add this node's hits since its
-- last sync and return the cluster totals, for every key that saw traffic on this node, in one
-- call a few times a second (never per message). All counters of a window share a hash tag,
-- so this is one call on a Redis Cluster too.
--
-- KEYS[i]  counter         {P rl:WINDOW_START}:KEY  (KEY is e.g. msg-ip:IP, msg-room:ROOM)
-- ARGV[1]  expiry, ms (the window and the next one, which still weighs the previous window)
-- ARGV[i + 1]  this node's hits of KEYS[i] since its last sync
--
-- Returns the totals, in KEYS order.
--
-- A counter gets its expiry once, by the call that creates it (its total is then this node's
-- delta, which is at least 1): every later call only adds. The window's keys are created and
-- given their TTL in one atomic call, so none is left without one.
local totals = {}
for i, key in ipairs(KEYS) do
  local delta = tonumber(ARGV[i + 1])
  local total = redis.call('INCRBY', key, delta)
  if total == delta then redis.call('PEXPIRE', key, ARGV[1]) end
  totals[i] = total
end
return totals
