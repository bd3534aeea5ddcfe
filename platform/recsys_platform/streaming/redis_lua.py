"""The Lua script that applies one batch in Redis: ``state.apply_batch`` step by step.

KEYS[1] is the tenant's meta hash; every other key is built from the tenant prefix in ARGV[1]
(all share the ``{tenant}`` hash tag, so they live in one Redis Cluster slot). ARGV then holds the
config and the events, already ordered and filtered by ``state.ordered_events``, five fields each.
Inputs are validated before the script runs, so it cannot fail halfway through a batch.
"""

APPLY_SCRIPT = r"""
local P = ARGV[1]
local bucket_ms = tonumber(ARGV[2])
local gap_ms = tonumber(ARGV[3])
local ttl_ms = tonumber(ARGV[4])
local covis_k = tonumber(ARGV[5])
local session_cap = tonumber(ARGV[6])
local sessions_per_item = tonumber(ARGV[7])
local dedup_keep = tonumber(ARGV[8])
local expire_limit = tonumber(ARGV[9])
local ttl_s = tonumber(ARGV[10])
local n_windows = tonumber(ARGV[11])
local EPS = 1e-9
local windows = {}
local max_buckets = 0
local a = 12
for j = 1, n_windows do
  local nb = tonumber(ARGV[a + 1])
  windows[j] = {ARGV[a], nb}
  if nb > max_buckets then max_buckets = nb end
  a = a + 2
end

local META = KEYS[1]
local DEDUP, BUCKETS, SESSIONS, ITEMS = P .. 'dedup', P .. 'bk', P .. 'sessions', P .. 'items'
local function fmt(n) return string.format('%.0f', n) end
local function floordiv(x, d) return math.floor(x / d) end
local function trim(key, cap)
  local n = redis.call('ZCARD', key)
  if n > cap then redis.call('ZREMRANGEBYRANK', key, 0, n - cap - 1) end
end
local touched = {}
local function touch(key) touched[key] = true end

local function window_add(window_s, item, delta)
  local key = P .. 'w:' .. window_s
  local value = tonumber(redis.call('ZINCRBY', key, delta, item))
  if value <= EPS then redis.call('ZREM', key, item) end
  touch(key)
end

local function advance(old_bucket, new_bucket)
  if new_bucket <= old_bucket then return end
  local buckets = redis.call('ZRANGE', BUCKETS, 0, -1)
  for _, w in ipairs(windows) do
    local low, high = old_bucket - w[2], new_bucket - w[2]
    for _, b in ipairs(buckets) do
      local bn = tonumber(b)
      if bn > low and bn <= high then
        local kv = redis.call('ZRANGE', P .. 'b:' .. b, 0, -1, 'WITHSCORES')
        for x = 1, #kv, 2 do window_add(w[1], kv[x], -tonumber(kv[x + 1])) end
      end
    end
  end
  local oldest_kept = new_bucket - max_buckets
  for _, b in ipairs(buckets) do
    if tonumber(b) <= oldest_kept then
      redis.call('DEL', P .. 'b:' .. b)
      redis.call('ZREM', BUCKETS, b)
      touched[P .. 'b:' .. b] = nil
    end
  end
end

local meta = redis.call('HMGET', META, 'wm', 'seq')
local watermark = meta[1] and tonumber(meta[1]) or nil
local seq = meta[2] and tonumber(meta[2]) or 0
local applied = 0
for e = a, #ARGV, 5 do
  local event_id, session, item, ts_s = ARGV[e], ARGV[e + 1], ARGV[e + 2], ARGV[e + 3]
  local ts, weight = tonumber(ts_s), tonumber(ARGV[e + 4])
  if redis.call('ZADD', DEDUP, 'NX', seq + 1, event_id) == 1 then
    seq = seq + 1
    applied = applied + 1
    local bucket = floordiv(ts, bucket_ms)
    if watermark == nil or ts > watermark then
      if watermark ~= nil then advance(floordiv(watermark, bucket_ms), bucket) end
      watermark = ts
    end
    local end_bucket = floordiv(watermark, bucket_ms)
    if bucket > end_bucket - max_buckets then
      local bkey = P .. 'b:' .. fmt(bucket)
      redis.call('ZINCRBY', bkey, weight, item)
      if not touched[bkey] then redis.call('ZADD', BUCKETS, bucket, fmt(bucket)) end
      touch(bkey)
      for _, w in ipairs(windows) do
        if bucket > end_bucket - w[2] then window_add(w[1], item, weight) end
      end
    end
    if ts >= watermark - ttl_ms then
      local skey = P .. 's:' .. session
      local prev = redis.call('HMGET', skey, 'i', 't')
      local prev_ts = prev[2] and tonumber(prev[2]) or nil
      local last_click
      if prev_ts == nil or ts >= prev_ts then
        if prev_ts ~= nil and ts - prev_ts <= gap_ms and prev[1] ~= item then
          local nkey = P .. 'nx:' .. prev[1]
          local before = redis.call('ZSCORE', nkey, item)
          redis.call('ZINCRBY', nkey, weight, item)
          if not before then trim(nkey, covis_k) end
          touch(nkey)
        end
        redis.call('HSET', skey, 'i', item, 't', ts_s)
        redis.call('ZADD', SESSIONS, ts_s, session)
        last_click = ts
      else
        last_click = prev_ts
      end
      touch(skey)
      local sikey = P .. 'si:' .. session
      if redis.call('ZADD', sikey, 'GT', 'CH', ts_s, item) > 0 then trim(sikey, session_cap) end
      touch(sikey)
      local ikey = P .. 'is:' .. item
      if redis.call('ZADD', ikey, fmt(last_click), session) > 0 then trim(ikey, sessions_per_item) end
      touch(ikey)
      redis.call('ZADD', ITEMS, 'GT', ts_s, item)
    end
  end
end

if applied > 0 then
  local n = redis.call('ZCARD', DEDUP)
  if n > dedup_keep then redis.call('ZREMRANGEBYRANK', DEDUP, 0, n - dedup_keep - 1) end
  local cutoff = '(' .. fmt(watermark - ttl_ms)
  for _, s in ipairs(redis.call('ZRANGEBYSCORE', SESSIONS, '-inf', cutoff, 'LIMIT', 0, expire_limit)) do
    redis.call('DEL', P .. 's:' .. s, P .. 'si:' .. s)
    touched[P .. 's:' .. s], touched[P .. 'si:' .. s] = nil, nil
    redis.call('ZREM', SESSIONS, s)
  end
  for _, i in ipairs(redis.call('ZRANGEBYSCORE', ITEMS, '-inf', cutoff, 'LIMIT', 0, expire_limit)) do
    redis.call('DEL', P .. 'nx:' .. i, P .. 'is:' .. i)
    touched[P .. 'nx:' .. i], touched[P .. 'is:' .. i] = nil, nil
    redis.call('ZREM', ITEMS, i)
  end
  redis.call('HSET', META, 'wm', fmt(watermark), 'seq', fmt(seq))
  for _, key in ipairs({META, DEDUP, BUCKETS, SESSIONS, ITEMS}) do touch(key) end
  for key, _ in pairs(touched) do redis.call('EXPIRE', key, ttl_s) end
end
return applied
"""
