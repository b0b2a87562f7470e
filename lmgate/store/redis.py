"""Counters in Redis: one limit enforced together by every gateway instance sharing it.

Each decision is one Lua script call (one round trip), so check-all-then-commit
is atomic across instances. Times come from the callers (``now``), not Redis:
instances must keep NTP time, which they need anyway for the stats. Keys:

    {prefix}rpm:{scope}            ZSET lease -> admitted at       (expires after the window)
    {prefix}par:{scope}            ZSET lease -> lease expiry      (expires after lease_ttl)
    {prefix}tpm:{scope}            HASH second -> tokens           (expires after the window)
    {prefix}spend:{period}:{scope} STRING usd                      (expires an hour after the period)
    {prefix}hold:{scope}           ZSET lease -> hold expiry       (budget holds; expire after lease_ttl)
    {prefix}held:{scope}           HASH lease -> usd, '*' -> sum   (the holds' amounts, with them)

A single Redis (or primary) is assumed, not Redis Cluster: one decision touches
the key's and the owner's keys, which would sit in different slots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from lmgate.store.base import (
    BUDGET,
    FIT_TOLERANCE,
    PARALLEL,
    PASSED,
    RPM,
    TPM,
    WINDOW,
    Check,
    Outcome,
    ScopeUse,
    StoreUnavailable,
    Usage,
    tpm_first_bucket,
)
from lmgate.store.periods import PERIOD_KINDS, Period, period_ids, period_of

# Budget holds, shared by the scripts: the hold ZSET and HASH of one scope. A hold's amount is kept with
# the sum of all ('*'; lease ids never are '*'), which starts from 0 again when nothing is held.
_HOLDS = """
local function free_hold(hz, hh, lease)
  local a = redis.call('HGET', hh, lease)
  if not a then return end
  redis.call('ZREM', hz, lease)
  if redis.call('ZCARD', hz) == 0 then
    redis.call('DEL', hh)
  else
    redis.call('HDEL', hh, lease)
    redis.call('HINCRBYFLOAT', hh, '*', -tonumber(a))
  end
end
"""

# KEYS: check i's key for each of the n checks, then a hold ZSET and HASH per budget check, in order.
# ARGV: now, lease, lease expiry, lease ttl ms, window ms, reserve usd, n, fit tolerance, then (rule, limit, arg)
# per check,
# arg being the rpm cutoff (now - window) or the first tpm bucket still counted.
ACQUIRE = (
    _HOLDS
    + """
local now, lease, reserve, n, tol = ARGV[1], ARGV[2], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local cold, b = {}, 0
for i = 1, n do
  local k, rule, limit, arg = KEYS[i], ARGV[6 + 3 * i], tonumber(ARGV[7 + 3 * i]), ARGV[8 + 3 * i]
  if rule == 'budget' then
    b = b + 1
    local v = redis.call('GET', k)
    if not v then
      cold[#cold + 1] = i - 1
    elseif #cold == 0 then
      local hz, hh = KEYS[n + 2 * b - 1], KEYS[n + 2 * b]
      local spend, held = tonumber(v), tonumber(redis.call('HGET', hh, '*') or '0')
      if spend + held >= limit or spend + held + reserve > limit + tol then
        if held > 0 then  -- holds whose lease expired (no stats line came): only worth it when refusing
          for _, gone in ipairs(redis.call('ZRANGEBYSCORE', hz, '-inf', now)) do free_hold(hz, hh, gone) end
          held = tonumber(redis.call('HGET', hh, '*') or '0')
        end
        if spend + held >= limit or spend + held + reserve > limit + tol then
          return {'deny', i - 1, v, tostring(held)}
        end
      end
    end
  else
    if #cold > 0 then break end  -- budgets come first; judge nothing else on an unknown spend
    if rule == 'parallel' then
      redis.call('ZREMRANGEBYSCORE', k, '-inf', now)  -- expired leases
      local c = redis.call('ZCARD', k)
      if c >= limit then return {'deny', i - 1, tostring(c), ''} end
    elseif rule == 'rpm' then
      redis.call('ZREMRANGEBYSCORE', k, '-inf', arg)
      local c = redis.call('ZCARD', k)
      if c >= limit then
        return {'deny', i - 1, tostring(c), redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')[2]}
      end
    else  -- tpm
      local first, used, buckets = tonumber(arg), 0, {}
      local h = redis.call('HGETALL', k)
      for j = 1, #h, 2 do
        local b, t = tonumber(h[j]), tonumber(h[j + 1])
        if b < first then
          redis.call('HDEL', k, h[j])
        else
          used = used + t
          buckets[#buckets + 1] = {b, t}
        end
      end
      if used >= limit then
        table.sort(buckets, function(x, y) return x[1] < y[1] end)
        local left = used
        for _, bt in ipairs(buckets) do
          left = left - bt[2]
          if left < limit then return {'deny', i - 1, tostring(used), tostring(bt[1])} end
        end
      end
    end
  end
end
if #cold > 0 then
  table.insert(cold, 1, 'seed')
  return cold
end
b = 0
for i = 1, n do
  local rule = ARGV[6 + 3 * i]
  if rule == 'parallel' then
    redis.call('ZADD', KEYS[i], ARGV[3], lease)
    redis.call('PEXPIRE', KEYS[i], ARGV[4])
  elseif rule == 'rpm' then
    redis.call('ZADD', KEYS[i], now, lease)
    redis.call('PEXPIRE', KEYS[i], ARGV[5])
  elseif rule == 'budget' then
    b = b + 1
    local hz, hh = KEYS[n + 2 * b - 1], KEYS[n + 2 * b]
    if reserve > 0 and redis.call('ZADD', hz, ARGV[3], lease) == 1 then
      redis.call('HSET', hh, lease, ARGV[6])
      redis.call('HINCRBYFLOAT', hh, '*', ARGV[6])
      redis.call('PEXPIRE', hz, ARGV[4])
      redis.call('PEXPIRE', hh, ARGV[4])
    end
  end
end
return {'ok'}
"""
)

# Finished requests, in order. ARGV: the number of requests, then 7 per request: n spend, n tpm, cost, tokens,
# bucket, first bucket still counted, lease ('' for none). KEYS, per request: its n spend counters, n tpm
# hashes, n lease sets, and with a lease a hold ZSET and HASH per scope.
RECORD = (
    _HOLDS
    + """
local function record(k, ns, nt, cost, tokens, bucket, first, lease)
  if tonumber(cost) > 0 then
    for i = k, k + ns - 1 do
      -- only warm counters: a cold one is seeded later from rollups that include this
      if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBYFLOAT', KEYS[i], cost) end
    end
  end
  k = k + ns
  if tonumber(tokens) > 0 then
    for i = k, k + nt - 1 do
      local key = KEYS[i]
      redis.call('HINCRBY', key, bucket, tokens)
      redis.call('EXPIRE', key, 120)
      if redis.call('HLEN', key) > 90 then  -- a key without tpm is never pruned by a check: keep it bounded here
        local f = tonumber(first)
        for _, b in ipairs(redis.call('HKEYS', key)) do
          if tonumber(b) < f then redis.call('HDEL', key, b) end
        end
      end
    end
  end
  k = k + nt
  if lease == '' then return k + nt end
  for i = k, k + nt - 1 do redis.call('ZREM', KEYS[i], lease) end
  k = k + nt
  -- the hold is settled: the cost went into spend above, in this same step
  for i = k, k + 2 * nt - 1, 2 do free_hold(KEYS[i], KEYS[i + 1], lease) end
  return k + 2 * nt
end
local k = 1
for r = 0, tonumber(ARGV[1]) - 1 do
  local a = 2 + 7 * r
  k = record(k, tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5],
    ARGV[a + 6])
end
return 1
"""
)
#: requests per RECORD call: a pass's usage in few round trips, without holding Redis for long
RECORD_CHUNK = 200

# KEYS: ARGV[2] sets holding the lease (parallel, rpm), then hold ZSET and HASH pairs. ARGV: lease, n sets.
FORGET = (
    _HOLDS
    + """
local lease, ns = ARGV[1], tonumber(ARGV[2])
for i = 1, ns do redis.call('ZREM', KEYS[i], lease) end
for i = ns + 1, #KEYS, 2 do free_hold(KEYS[i], KEYS[i + 1], lease) end
return 1
"""
)

_WINDOW_MS = int(WINDOW * 1000) + 1000  # rpm log lifetime: the window and a second
_KIND_KEY = {BUDGET: "spend", PARALLEL: "par", RPM: "rpm", TPM: "tpm"}


class RedisStore:
    def __init__(self, client: Redis, prefix: str = "lmgate:") -> None:
        self._r = client
        self._p = prefix
        self._acquire = client.register_script(ACQUIRE)  # EVALSHA; loads the script itself after a Redis restart
        self._record = client.register_script(RECORD)
        self._forget = client.register_script(FORGET)

    @classmethod
    def from_url(cls, url: str, timeout: float = 0.25, prefix: str = "lmgate:") -> RedisStore:
        # One quick retry when a pooled connection turns out broken (Redis restarted), no backoff, and none
        # after a timeout (an overloaded Redis gets no second request): /auth is waiting.
        client = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            decode_responses=True,
            protocol=2,  # redis-py 8 defaults to RESP3; RESP2 works with every server and gives the same replies
        )
        return cls(client, prefix)

    def _key(self, c: Check, now: float) -> str:
        if c.rule == BUDGET:
            assert c.period is not None
            return f"{self._p}spend:{period_of(c.period, now).id}:{c.scope}"
        return f"{self._p}{_KIND_KEY[c.rule]}:{c.scope}"

    def _hold_keys(self, scope: str) -> tuple[str, str]:
        return f"{self._p}hold:{scope}", f"{self._p}held:{scope}"

    async def acquire(
        self, checks: Sequence[Check], now: float, lease_id: str, lease_ttl: float, reserve_usd: float = 0.0
    ) -> Outcome:
        keys = [self._key(c, now) for c in checks]
        for c in checks:
            if c.rule == BUDGET:
                keys += self._hold_keys(c.scope)
        args: list[str | int] = [
            repr(now),
            lease_id,
            repr(now + lease_ttl),
            math.ceil(lease_ttl * 1000),
            _WINDOW_MS,
            repr(float(reserve_usd)),
            len(checks),
            repr(FIT_TOLERANCE),
        ]
        for c in checks:
            arg: str | int = ""
            if c.rule == RPM:
                arg = repr(now - WINDOW)
            elif c.rule == TPM:
                arg = tpm_first_bucket(now)
            args += (c.rule, repr(c.limit), arg)
        try:
            reply = await self._acquire(keys=keys, args=args)
        except (RedisError, OSError) as e:
            raise StoreUnavailable(f"redis: {e}") from e
        status = reply[0]
        if status == "ok":
            return PASSED
        if status == "seed":
            return Outcome(seed=tuple(int(i) for i in reply[1:]))
        i, value, extra = int(reply[1]), float(reply[2]), reply[3]
        reset_at: float | None = None
        if checks[i].rule == RPM:
            reset_at = float(extra) + WINDOW
        elif checks[i].rule == TPM:
            reset_at = int(extra) + 1 + WINDOW
        elif checks[i].rule == BUDGET:
            return Outcome(denied=i, value=value, reserved=float(extra))
        return Outcome(denied=i, value=value, reset_at=reset_at)

    async def seed(self, scope: str, period: Period, usd: float, now: float) -> None:
        key = f"{self._p}spend:{period.id}:{scope}"
        # Relative to the caller's clock (like every time here); kept an hour past the period's end.
        ttl = None if math.isinf(period.end) else max(1, math.ceil(period.end - now)) + 3600
        try:
            await self._r.set(key, repr(usd), nx=True, ex=ttl)
        except (RedisError, OSError) as e:
            raise StoreUnavailable(f"redis: {e}") from e

    async def record(
        self, scopes: Sequence[str], tokens: int, cost_usd: float, at: float, lease_id: str | None
    ) -> None:
        await self.record_many((Usage(scopes, tokens, cost_usd, at, lease_id),))

    async def record_many(self, usages: Sequence[Usage]) -> None:
        failed: StoreUnavailable | None = None
        for start in range(0, len(usages), RECORD_CHUNK):
            keys: list[str] = []
            args: list[str | int] = [min(RECORD_CHUNK, len(usages) - start)]
            for u in usages[start : start + RECORD_CHUNK]:
                self._record_args(u, keys, args)
            try:
                await self._record(keys=keys, args=args)
            except (RedisError, OSError) as e:  # the next chunks are still tried: Redis may be back (as per line)
                failed = failed or StoreUnavailable(f"redis: {e}")
                failed.__cause__ = failed.__cause__ or e
        if failed is not None:
            raise failed

    def _record_args(self, u: Usage, keys: list[str], args: list[str | int]) -> None:
        """One request's keys and arguments of RECORD, appended."""
        p, scopes, ids = self._p, u.scopes, period_ids(u.at)
        keys += [f"{p}spend:{pid}:{s}" for s in scopes for pid in ids]
        keys += [f"{p}tpm:{s}" for s in scopes]
        keys += [f"{p}par:{s}" for s in scopes]
        if u.lease_id:
            keys += [k for s in scopes for k in self._hold_keys(s)]
        at = u.at
        args += (len(ids) * len(scopes), len(scopes), repr(u.cost_usd), u.tokens, int(at // 1))
        args += (tpm_first_bucket(at), u.lease_id or "")

    async def release(self, scopes: Sequence[str], lease_id: str) -> None:
        sets = [f"{self._p}par:{s}" for s in scopes]
        await self._forget_lease(lease_id, sets, [k for s in scopes for k in self._hold_keys(s)])

    async def _forget_lease(self, lease_id: str, sets: list[str], holds: list[str]) -> None:
        """One script call: the lease out of ``sets``, its holds (ZSET, HASH pairs) freed."""
        try:
            await self._forget(keys=sets + holds, args=[lease_id, len(sets)])
        except (RedisError, OSError) as e:
            raise StoreUnavailable(f"redis: {e}") from e

    async def usage(self, scopes: Sequence[str], now: float) -> dict[str, ScopeUse]:
        """One pipelined round trip of reads; the counts acquire would see (no script, nothing pruned)."""
        ids = [period_of(kind, now).id for kind in PERIOD_KINDS]
        first = tpm_first_bucket(now)
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for s in scopes:
                    pipe.zcount(f"{self._p}rpm:{s}", f"({now - WINDOW!r}", "+inf")
                    pipe.hgetall(f"{self._p}tpm:{s}")
                    pipe.zcount(f"{self._p}par:{s}", f"({now!r}", "+inf")
                    hz, hh = self._hold_keys(s)
                    pipe.zrangebyscore(hz, f"({now!r}", "+inf")  # holds not expired (acquire drops the rest)
                    pipe.hgetall(hh)
                    for pid in ids:
                        pipe.get(f"{self._p}spend:{pid}:{s}")
                replies = await pipe.execute()
        except (RedisError, OSError) as e:
            raise StoreUnavailable(f"redis: {e}") from e
        out, step = {}, 5 + len(ids)
        for i, s in enumerate(scopes):
            requests, buckets, in_flight, live, amounts, *spent = replies[i * step : (i + 1) * step]
            tokens = sum(int(t) for b, t in buckets.items() if int(b) >= first)
            spend = {pid: float(v) for pid, v in zip(ids, spent, strict=True) if v is not None}
            reserved = sum(float(amounts[lease]) for lease in live if lease in amounts)
            out[s] = ScopeUse(int(requests), tokens, int(in_flight), spend, reserved)
        return out

    async def undo(self, checks: Sequence[Check], now: float, lease_id: str) -> None:
        # both sets hold the request under its lease id
        sets = [self._key(c, now) for c in checks if c.rule in (PARALLEL, RPM)]
        holds = [k for c in checks if c.rule == BUDGET for k in self._hold_keys(c.scope)]
        await self._forget_lease(lease_id, sets, holds)

    async def close(self) -> None:
        await self._r.aclose()
