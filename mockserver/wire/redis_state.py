"""The Redis state backend: every claim is one Lua script (EVALSHA), so replicas count as one.

Keys live under a prefix per mock (``--state-prefix``, default ``mockserver``):
``P:s:<session>:h`` (counters), ``:st`` (named states), ``:b`` (token buckets), ``:slots`` (the
names of its slot sets), ``P:c:<session>:<slot>`` (leases, a sorted set scored by expiry),
``P:sessions``, ``P:clock`` (origin, offset, frozen) and ``P:leases``. Stateful resources:
``P:s:<session>:r`` maps a collection to its JSON (resources.dump_collection) and ``:rv`` to its
version (a number from ``P:rv``, never reused), for the check-and-set of ``resource()``. The clock is Redis's
``TIME`` read inside each script, plus the test clock's offset kept in ``P:clock``, divided by the
time scale the server passes: every replica reads the same clock.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any, NoReturn, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..backend import Claim, Claimed, Count, Operate, StateUnavailable
from ..resources import dump_collection, load_collection
from ..state import StateChange

__all__ = ["RESOURCE_TRIES", "RedisBackend", "open_backend"]

_T = TypeVar("_T")

#: check-and-set attempts of one resource operation before it is answered 503 (docs/scale-out.md)
RESOURCE_TRIES = 50
#: the longest pause between two attempts (seconds); the pause is random, doubling up to this
RESOURCE_PAUSE = 0.05

_CLOCK = """
local function clock(P, scale)
  local t = redis.call('TIME')
  local real = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local ck = P .. ':clock'
  local origin = tonumber(redis.call('HGET', ck, 'origin'))
  if origin == nil then origin = real; redis.call('HSET', ck, 'origin', string.format('%.17g', real)) end
  local offset = tonumber(redis.call('HGET', ck, 'offset') or '0')
  local frozen = tonumber(redis.call('HGET', ck, 'frozen'))
  local now = (frozen or (real - origin)) + offset
  if scale > 0 then now = now / scale end
  return now, real
end
"""

# named states that change by themselves: P:s:<session>:tm maps a state to its pending change,
# "at|reads|then" (at, reads: -1 when not used); settled when the state is read, on the one clock
_TIMERS = """
local function timer(tm, state)
  local raw = redis.call('HGET', tm, state)
  if not raw then return nil end
  local a = string.find(raw, '|', 1, true)
  local b = string.find(raw, '|', a + 1, true)
  return tonumber(string.sub(raw, 1, a - 1)), tonumber(string.sub(raw, a + 1, b - 1)), string.sub(raw, b + 1)
end
local function settle(tm, st, state, now)
  local at, reads, nxt = timer(tm, state)
  if at == nil then return end
  if (at >= 0 and now >= at) or (reads >= 0 and reads <= 0) then
    redis.call('HSET', st, state, nxt)
    redis.call('HDEL', tm, state)
  end
end
local function set_state(tm, st, state, value, change, now)
  redis.call('HSET', st, state, value)
  if change then
    local at = -1
    if change[1] >= 0 then at = now + change[1] end
    redis.call('HSET', tm, state, string.format('%.17g|%d|', at, change[2]) .. change[3])
  else
    redis.call('HDEL', tm, state)
  end
end
local function read(tm, state)
  local at, reads, nxt = timer(tm, state)
  if at ~= nil and reads >= 0 then
    redis.call('HSET', tm, state, string.format('%.17g|%d|', at, reads - 1) .. nxt)
  end
end
"""

_LATE = """
local t0 = redis.call('TIME')
if tonumber(t0[1]) + tonumber(t0[2]) / 1000000 > tonumber(ARGV[#ARGV]) then return -2 end
"""

_CLAIM = _CLOCK + _TIMERS + _LATE + """
local P, sess, scale = ARGV[1], ARGV[2], tonumber(ARGV[4])
local claim = cjson.decode(ARGV[3])
local base = P .. ':s:' .. sess
local h, st, tm = base .. ':h', base .. ':st', base .. ':tm'
redis.call('SADD', P .. ':sessions', sess)
local now, real = clock(P, scale)
for i, c in ipairs(claim.c) do
  local counter, arrivals, branch, state = c[1], c[2], c[3], c[4]
  local times, requires, sets, count_now, bucket, slot = c[5], c[6], c[7], c[8], c[9], c[10]
  local change, reads = c[11], c[12]
  local answered = tonumber(redis.call('HGET', h, counter) or '0')
  local ok = true
  if times >= 0 and answered >= times then ok = false end
  if ok and requires then
    settle(tm, st, state, now)
    local current = redis.call('HGET', st, state) or 'started'
    local found = false
    for _, want in ipairs(requires) do if want == current then found = true end end
    ok = found
  end
  if ok then
    local ordinal = redis.call('HINCRBY', h, arrivals, 1) - 1
    local pick = answered
    if branch then pick = tonumber(redis.call('HGET', h, branch) or '0') end
    if count_now then
      redis.call('HINCRBY', h, counter, 1)
      if branch then redis.call('HINCRBY', h, branch, 1) end
      if reads then read(tm, state) end
      if sets then set_state(tm, st, state, sets, change, now) end
    end
    local admitted, wait, remaining = 1, 0, 0
    if bucket then
      local bk, rate, burst = bucket[1], bucket[2], bucket[3]
      local raw = redis.call('HGET', base .. ':b', bk)
      local tokens, last = burst, now
      if raw then
        local sep = string.find(raw, ':', 1, true)
        tokens, last = tonumber(string.sub(raw, 1, sep - 1)), tonumber(string.sub(raw, sep + 1))
      end
      tokens = math.min(burst, tokens + (now - last) * rate)
      if tokens >= 1 then tokens = tokens - 1 else admitted, wait = 0, (1 - tokens) / rate end
      redis.call('HSET', base .. ':b', bk, string.format('%.17g:%.17g', tokens, now))
      remaining = math.floor(tokens)
    end
    local slotted, lease = 1, ''
    if slot and admitted == 1 then
      local zk = P .. ':c:' .. sess .. ':' .. slot[1]
      redis.call('ZREMRANGEBYSCORE', zk, '-inf', real)
      if redis.call('ZCARD', zk) < slot[2] then
        lease = tostring(redis.call('INCR', P .. ':leases'))
        redis.call('ZADD', zk, real + slot[3], lease)
        redis.call('SADD', base .. ':slots', zk)
      else
        slotted = 0
      end
    end
    return {i - 1, ordinal, pick, string.format('%.17g', now), admitted, string.format('%.17g', wait),
            remaining, slotted, lease}
  end
end
local ordinal = 0
if claim.u then ordinal = redis.call('HINCRBY', h, claim.u, 1) - 1 end
return {-1, ordinal, 0, '0', 1, '0', 0, 1, ''}
"""

_COUNT = _CLOCK + _TIMERS + _LATE + """
local base = ARGV[1] .. ':s:' .. ARGV[2]
redis.call('SADD', ARGV[1] .. ':sessions', ARGV[2])
redis.call('HINCRBY', base .. ':h', ARGV[3], 1)
if ARGV[4] ~= '' then redis.call('HINCRBY', base .. ':h', ARGV[4], 1) end
local tm, st = base .. ':tm', base .. ':st'
if ARGV[8] == '1' then read(tm, ARGV[5]) end
if ARGV[6] ~= '' then
  local change = cjson.decode(ARGV[7])
  set_state(tm, st, ARGV[5], ARGV[6], change, clock(ARGV[1], tonumber(ARGV[9])))
end
return 1
"""

# the named states of a session, with the changes that are due carried out first
_STATES = _CLOCK + _TIMERS + """
local base = ARGV[1] .. ':s:' .. ARGV[2]
local tm, st = base .. ':tm', base .. ':st'
local now = clock(ARGV[1], tonumber(ARGV[3]))
for _, state in ipairs(redis.call('HKEYS', tm)) do settle(tm, st, state, now) end
return redis.call('HGETALL', st)
"""

_RESET = """
local P = ARGV[1]
local function drop(sess)
  local base = P .. ':s:' .. sess
  for _, zk in ipairs(redis.call('SMEMBERS', base .. ':slots')) do redis.call('DEL', zk) end
  redis.call('DEL', base .. ':h', base .. ':st', base .. ':b', base .. ':slots', base .. ':tm',
             base .. ':r', base .. ':rv')
  redis.call('SREM', P .. ':sessions', sess)
end
if ARGV[2] == '1' then drop(ARGV[3]) else
  for _, sess in ipairs(redis.call('SMEMBERS', P .. ':sessions')) do drop(sess) end
end
if ARGV[4] == '1' then
  local t = redis.call('TIME')
  local ck = P .. ':clock'
  redis.call('HSET', ck, 'origin', string.format('%.17g', tonumber(t[1]) + tonumber(t[2]) / 1000000),
             'offset', '0')
  if redis.call('HEXISTS', ck, 'frozen') == 1 then redis.call('HSET', ck, 'frozen', '0') end
end
return 1
"""

_NOW = _CLOCK + """
local now = clock(ARGV[1], tonumber(ARGV[3]))
if ARGV[2] ~= '' then
  redis.call('HINCRBYFLOAT', ARGV[1] .. ':clock', 'offset', ARGV[2])
  now = clock(ARGV[1], tonumber(ARGV[3]))
end
return string.format('%.17g', now)
"""


# a collection as stored, its version and the clock, in one trip (resource(): the read of the check)
_RES_READ = _CLOCK + """
local base = ARGV[1] .. ':s:' .. ARGV[2]
local now = clock(ARGV[1], tonumber(ARGV[4]))
return {redis.call('HGET', base .. ':r', ARGV[3]) or '', redis.call('HGET', base .. ':rv', ARGV[3]) or '0',
        string.format('%.17g', now)}
"""

# the set of the check-and-set: the new value only if no one wrote since the read (0: someone did)
_RES_WRITE = _LATE + """
local base = ARGV[1] .. ':s:' .. ARGV[2]
if (redis.call('HGET', base .. ':rv', ARGV[3]) or '0') ~= ARGV[4] then return 0 end
redis.call('HSET', base .. ':r', ARGV[3], ARGV[5])
redis.call('HSET', base .. ':rv', ARGV[3], redis.call('INCR', ARGV[1] .. ':rv'))
redis.call('SADD', ARGV[1] .. ':sessions', ARGV[2])
return 1
"""

_SET_STATE = """
redis.call('HSET', ARGV[1] .. ':s:' .. ARGV[2] .. ':st', ARGV[3], ARGV[4])
redis.call('HDEL', ARGV[1] .. ':s:' .. ARGV[2] .. ':tm', ARGV[3])
redis.call('SADD', ARGV[1] .. ':sessions', ARGV[2])
return 1
"""

# freeze (ARGV[2] '1', at ARGV[3] or '' for where it stands) or unfreeze (ARGV[2] '0'), for every replica
_FREEZE = _CLOCK + """
local P, ck = ARGV[1], ARGV[1] .. ':clock'
local t = redis.call('TIME')
local real = tonumber(t[1]) + tonumber(t[2]) / 1000000
local origin = tonumber(redis.call('HGET', ck, 'origin'))
if origin == nil then origin = real; redis.call('HSET', ck, 'origin', string.format('%.17g', real)) end
local frozen = tonumber(redis.call('HGET', ck, 'frozen'))
if ARGV[2] == '1' then
  if ARGV[3] ~= '' then
    redis.call('HSET', ck, 'frozen', ARGV[3], 'offset', '0')
  elseif frozen == nil then
    redis.call('HSET', ck, 'frozen', string.format('%.17g', real - origin))
  end
elseif frozen ~= nil then
  redis.call('HSET', ck, 'origin', string.format('%.17g', real - frozen))
  redis.call('HDEL', ck, 'frozen')
end
local now = clock(P, tonumber(ARGV[4]))
return string.format('%.17g', now)
"""


def _arg(value: object) -> object:
    """cjson turns JSON null into a userdata that Lua takes as true: send false instead."""
    return False if value is None else value


def _change(change: StateChange | None) -> object:
    """A pending state change as the scripts read it: [after or -1, reads or -1, then], or false."""
    if change is None:
        return False
    return [-1 if change.after is None else change.after, -1 if change.reads is None else change.reads,
            change.then]


class RedisBackend:
    """State in one Redis (``redis://HOST:PORT/DB``) shared by every replica that names it."""

    local = False

    def __init__(self, url: str, *, prefix: str = "mockserver", timeout: float = 2.0,
                 time_scale: float = 1.0, lease: float = 60.0, connections: int = 32) -> None:
        self.url = url
        self.prefix = prefix
        self.time_scale = time_scale
        self.lease = lease
        # no retries: a script whose reply was lost may have run, and running it again would count twice
        # a bounded pool that waits (up to the timeout) for a free connection: a burst of requests
        # queues for Redis instead of opening a connection each or failing at once
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=connections, timeout=timeout, socket_timeout=timeout,
            socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0), decode_responses=True)
        self._redis = aioredis.Redis(connection_pool=pool)
        self._claim = self._redis.register_script(_CLAIM)
        self._count = self._redis.register_script(_COUNT)
        self._reset = self._redis.register_script(_RESET)
        self._now = self._redis.register_script(_NOW)
        self._states = self._redis.register_script(_STATES)
        self._set_state = self._redis.register_script(_SET_STATE)
        self._freeze = self._redis.register_script(_FREEZE)
        self._res_read = self._redis.register_script(_RES_READ)
        self._res_write = self._redis.register_script(_RES_WRITE)
        # one operation at a time per collection in this process (striped): a conflict is then
        # only ever with another replica, and a burst here does not retry against itself
        self._res_locks: list[asyncio.Lock] = []
        self._res_loop: asyncio.AbstractEventLoop | None = None
        self.timeout = timeout
        self.last_error: str | None = None
        self._skew: float | None = None  # Redis's TIME minus ours, measured once per connection

    async def _call(self, script: Any, *args: object) -> Any:
        try:
            result = await script(args=list(args))
        except (RedisError, OSError) as exc:
            self._failed(exc)
        self.last_error = None
        return result

    def _failed(self, exc: BaseException) -> NoReturn:
        self._skew = None
        self.last_error = f"state backend {self.url} unavailable: {type(exc).__name__}: {exc}"
        raise StateUnavailable(self.last_error) from exc

    async def _deadline(self) -> str:
        """When, on Redis's clock, a write sent now must no longer apply: half the timeout, so a
        script that reaches Redis after we gave up on it (a hung or slow Redis) changes nothing."""
        if self._skew is None:
            before = time.time()
            try:
                seconds, micros = await self._redis.time()
            except (RedisError, OSError) as exc:
                self._failed(exc)
            self._skew = seconds + micros / 1e6 - (before + time.time()) / 2
        return repr(time.time() + self._skew + self.timeout / 2)

    async def _write(self, script: Any, *args: object) -> Any:
        result = await self._call(script, *args, await self._deadline())
        if result == -2:
            self._failed(TimeoutError(f"the script reached Redis after its deadline ({self.timeout / 2:g}s)"))
        return result

    async def _do(self, name: str, *args: object) -> Any:
        try:
            result = await getattr(self._redis, name)(*args)
        except (RedisError, OSError) as exc:
            self._failed(exc)
        self.last_error = None
        return result

    def _base(self, session: str) -> str:
        return f"{self.prefix}:s:{session}"

    async def claim(self, claim: Claim) -> Claimed:
        payload = {"c": [[c.counter, c.arrivals, _arg(c.branch), c.state,
                          -1 if c.times is None else c.times,
                          list(c.requires) if c.requires is not None else False, _arg(c.sets_state),
                          c.count_now,
                          [c.bucket.key, c.bucket.rate, c.bucket.burst] if c.bucket is not None else False,
                          [c.slot.key, c.slot.limit, self.lease] if c.slot is not None else False,
                          _change(c.change), c.reads]
                         for c in claim.candidates],
                   "u": _arg(claim.unmatched)}
        out = await self._write(self._claim, self.prefix, claim.session, json.dumps(payload), self.time_scale)
        index, ordinal, pick, now, admitted, wait, remaining, slotted, lease = out
        return Claimed(int(index), int(ordinal), int(pick), float(now), bool(admitted), float(wait),
                       int(remaining), bool(slotted), lease or None)

    async def count(self, count: Count) -> None:
        await self._write(self._count, self.prefix, count.session, count.counter, count.branch or "",
                         count.state, count.sets_state or "", json.dumps(_change(count.change)),
                         "1" if count.reads else "0", self.time_scale)

    async def release(self, session: str, slot: str, lease: str) -> None:
        await self._do("zrem", f"{self.prefix}:c:{session}:{slot}", lease)

    async def resource(self, session: str, name: str, operate: Operate[_T]) -> _T:
        """An atomic check-and-set: read the collection, its version and the clock (one trip), run
        *operate* here (templates render in Python), write only if it changed and no replica wrote
        since; else read again, up to RESOURCE_TRIES times, with a short random pause between."""
        loop = asyncio.get_running_loop()
        if self._res_loop is not loop:  # a lock belongs to one loop: a server started again gets new ones
            self._res_locks, self._res_loop = [asyncio.Lock() for _ in range(64)], loop
        async with self._res_locks[hash((session, name)) % len(self._res_locks)]:
            for attempt in range(RESOURCE_TRIES):
                raw, version, now = await self._call(self._res_read, self.prefix, session, name,
                                                     self.time_scale)
                state, out = operate(load_collection(raw) if raw else None, float(now))
                text = dump_collection(state)
                if text == raw or await self._write(self._res_write, self.prefix, session, name, version,
                                                    text) == 1:
                    return out
                await asyncio.sleep(random.uniform(0, min(RESOURCE_PAUSE, 0.001 * 2 ** attempt)))
        raise StateUnavailable(f"state backend {self.url}: collection {name!r} of session {session!r} was "
                               f"changed by another replica during each of {RESOURCE_TRIES} tries; "
                               "this operation changed nothing")

    async def now(self) -> float:
        return float(await self._call(self._now, self.prefix, "", self.time_scale))

    async def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        return float(await self._call(self._now, self.prefix, repr(float(seconds)), self.time_scale))

    async def reset(self, session: str | None = None, *, clock: bool = False) -> None:
        await self._call(self._reset, self.prefix, "0" if session is None else "1", session or "",
                         "1" if clock else "0")

    async def states(self, session: str = "") -> dict[str, str]:
        flat: list[str] = await self._call(self._states, self.prefix, session, self.time_scale)
        return dict(zip(flat[::2], flat[1::2], strict=True))

    async def set_state(self, name: str, value: str, session: str = "") -> None:
        # one script: the state (dropping a pending change of it) and its session, together or not at all
        await self._call(self._set_state, self.prefix, session, name, value)

    async def freeze(self, at: float | None = None) -> float:
        """Stop real time counting on the shared clock, for every replica (at *at* s if given)."""
        return float(await self._call(self._freeze, self.prefix, "1", "" if at is None else repr(float(at)),
                                      self.time_scale))

    async def unfreeze(self) -> float:
        return float(await self._call(self._freeze, self.prefix, "0", "", self.time_scale))

    async def hits(self, session: str = "") -> dict[str, int]:
        found: dict[str, str] = await self._do("hgetall", self._base(session) + ":h")
        return {key: int(value) for key, value in found.items()}

    async def sessions(self) -> list[str]:
        found: set[str] = await self._do("smembers", f"{self.prefix}:sessions")
        return sorted(found)

    async def healthy(self) -> str | None:
        try:
            await self._do("ping")
        except StateUnavailable as exc:
            return str(exc)
        return None

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)


def open_backend(spec: str, *, prefix: str = "mockserver", time_scale: float = 1.0,
                 timeout: float = 2.0, lease: float = 60.0) -> RedisBackend:
    """The backend a ``--state`` value names; ValueError says what would be valid."""
    if not spec.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"--state: found {spec!r}; expected memory or redis://HOST:PORT/DB "
                         "(rediss:// for TLS, unix:///path/to/socket)")
    return RedisBackend(spec, prefix=prefix, time_scale=time_scale, timeout=timeout, lease=lease)
