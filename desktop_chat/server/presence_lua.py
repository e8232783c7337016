"""The Lua scripts of RedisPresence: each runs atomically in Redis, so nodes never race."""

from __future__ import annotations

__all__ = ["HEARTBEAT", "REAP", "SET_COUNT", "SYNC"]

# Redis layout (``P`` is the prefix):
#   P presence:<uid>  hash  node id -> that node's socket count for the user (> 0)
#   P node:<node id>  set   the uids that node has a field for
#   P nodes           zset  node id -> the Redis server time (ms) of its last heartbeat
# Times come from the Redis server, so the nodes' clocks need not agree. The scripts touch keys
# they compute from the prefix, which a single Redis (or a primary with replicas) allows, but
# not Redis Cluster.
_LUA_COMMON = """
local function total(key)
  local sum = 0
  for _, value in ipairs(redis.call('HVALS', key)) do sum = sum + tonumber(value) end
  return sum
end
local function now_ms()
  local t = redis.call('TIME')
  return string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
if redis.replicate_commands then redis.replicate_commands() end
"""

# KEYS: nodes, node set, user hash. ARGV: node, uid, new count. -> {before, after, registered}
SET_COUNT = (
    _LUA_COMMON
    + """
local registered = 1
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now_ms(), ARGV[1])
  registered = 0
end
local before = total(KEYS[3])
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('SADD', KEYS[2], ARGV[2])
else
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[2])
end
return {before, total(KEYS[3]), registered}
"""
)

# KEYS: nodes. ARGV: node. -> 1 if the node was missing (reaped, or Redis lost its data).
HEARTBEAT = _LUA_COMMON + "return redis.call('ZADD', KEYS[1], now_ms(), ARGV[1])\n"

# Make Redis hold exactly this node's counts. KEYS: nodes, node set. ARGV: node, prefix,
# "leave" or "stay", the number of pairs, uid, count pairs, then uids whose last socket here
# went while Redis was not told. -> {regained uids, lost uids}
SYNC = (
    _LUA_COMMON
    + """
local node, prefix = ARGV[1], ARGV[2]
local last = 4 + 2 * tonumber(ARGV[4])
local regained, lost, wanted, reported = {}, {}, {}, {}
for i = 5, last, 2 do
  local uid = ARGV[i]
  local key = prefix .. 'presence:' .. uid
  wanted[uid] = true
  if total(key) == 0 then regained[#regained + 1] = uid end
  redis.call('HSET', key, node, ARGV[i + 1])
  redis.call('SADD', KEYS[2], uid)
end
for _, uid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if not wanted[uid] then
    local key = prefix .. 'presence:' .. uid
    if redis.call('HDEL', key, node) == 1 and total(key) == 0 then
      lost[#lost + 1] = uid
      reported[uid] = true
    end
    redis.call('SREM', KEYS[2], uid)
  end
end
for i = last + 1, #ARGV do
  local uid = ARGV[i]
  if not wanted[uid] and not reported[uid] and total(prefix .. 'presence:' .. uid) == 0 then
    lost[#lost + 1] = uid
    reported[uid] = true
  end
end
if ARGV[3] == 'leave' then
  redis.call('ZREM', KEYS[1], node)
else
  redis.call('ZADD', KEYS[1], now_ms(), node)
end
return {regained, lost}
"""
)

# Claim and clear one node whose heartbeat is older than the limit; atomic, so exactly one
# live node claims it. KEYS: nodes. ARGV: prefix, dead_after ms, own node. -> {node, lost}
REAP = (
    _LUA_COMMON
    + """
local prefix, self = ARGV[1], ARGV[3]
local cutoff = string.format('%.0f', tonumber(now_ms()) - tonumber(ARGV[2]))
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, 2)) do
  if node ~= self then
    redis.call('ZREM', KEYS[1], node)
    local members = prefix .. 'node:' .. node
    local lost = {}
    for _, uid in ipairs(redis.call('SMEMBERS', members)) do
      local key = prefix .. 'presence:' .. uid
      if redis.call('HDEL', key, node) == 1 and total(key) == 0 then lost[#lost + 1] = uid end
    end
    redis.call('DEL', members)
    return {node, lost}
  end
end
return false
"""
)
