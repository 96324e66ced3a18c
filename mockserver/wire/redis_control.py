"""One control plane for every replica on one Redis: a control call that changes the mock
(scenarios, snapshots, reset, the seed, runtime faults) is applied where it arrived, then
replayed on every other live replica before the call returns.

How: the replica that took the call appends it (method, target, body) to the stream
``P:control``; every replica follows that stream and replays each call it did not take through
its own control API (over loopback, marked ``X-Mock-Replayed`` so that it is not sent on again),
then acknowledges it (``RPUSH P:ack:<id>``). The caller's replica waits (``BLPOP``) for the
acknowledgements of the live replicas, those whose heartbeat in the sorted set ``P:replicas``
(scored by expiry on Redis's clock) has not run out, up to the state timeout, and says how many
answered in ``X-Mock-Replicas: acked/live``. Replaying the call itself means every replica
checks it with the same code and ends in the same state.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from . import background

__all__ = ["HEARTBEAT", "REPLAYED", "Replicator"]

#: the header a replayed control call carries (its id in the stream): applied here, not sent on
REPLAYED = "X-Mock-Replayed"
#: seconds between heartbeats; a replica is live while its last one is less than 3 of these old
HEARTBEAT = 1.0
log = logging.getLogger("mockserver")

# ARGV: the replicas key, this replica ('' to only read), seconds it stays live; returns the live ones
_LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] ~= '' then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


class Replicator:
    """This replica's part of the control plane: heartbeat, publish and wait, follow and replay."""

    def __init__(self, url: str, prefix: str, *, timeout: float = 2.0, token: str | None = None) -> None:
        self.replica = secrets.token_hex(4)
        self.prefix = prefix
        self.stream = f"{prefix}:control"
        self.timeout = timeout
        self._url = url
        self._token = token
        self._redis: aioredis.Redis | None = None
        self._reader: aioredis.Redis | None = None
        self._client: aiohttp.ClientSession | None = None
        self._base = ""
        self._last_id = "0"
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False  # the loops end by themselves too: a cancellation can be lost
        self._live: Any = None

    async def open(self, base_url: str) -> None:
        """Register (one heartbeat before the first request) and follow the stream from its end."""
        common: dict[str, Any] = {"socket_connect_timeout": self.timeout, "decode_responses": True}
        self._redis = aioredis.Redis.from_url(self._url, socket_timeout=self.timeout + 1.0, **common)
        self._reader = aioredis.Redis.from_url(self._url, socket_timeout=self.timeout + 1.0, **common)
        self._live = self._redis.register_script(_LIVE)
        self._base = base_url
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        with contextlib.suppress(RedisError, OSError):  # Redis down at start: the follower retries
            newest: Any = await self._redis.xrevrange(self.stream, count=1)
            self._last_id = str(newest[0][0]) if newest else "0"
            await self._beat()
        loop = asyncio.get_running_loop()
        self._stopping = False
        self._tasks = [loop.create_task(self._heartbeat(), name="control heartbeat"),
                       loop.create_task(self._follower(), name="control follower")]

    async def _beat(self) -> list[str]:
        live: list[str] = await self._live(keys=[f"{self.prefix}:replicas"],
                                           args=[self.replica, 3 * HEARTBEAT])
        return live

    async def _heartbeat(self) -> None:
        while not self._stopping:
            await asyncio.sleep(HEARTBEAT)
            with contextlib.suppress(RedisError, OSError):
                await self._beat()

    async def publish(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> str:
        """Send a call this replica applied to the others; wait for the live ones. Returns what
        X-Mock-Replicas says: ``acked/live``, or why nobody could be told."""
        assert self._redis is not None
        redis = self._redis
        try:
            fields = {"from": self.replica, "m": method, "p": target, "b": base64.b64encode(body).decode(),
                      **{f"h:{name}": value for name, value in headers.items()}}
            op: Any = await redis.xadd(self.stream, fields, maxlen=1000, approximate=True)  # type: ignore[arg-type]
            ack = f"{self.prefix}:ack:{op}"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.timeout
            acked: set[Any] = set()
            refused: set[str] = set()
            while True:
                others = set(await self._beat()) - {self.replica}
                if others <= acked | refused:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    log.warning("control %s %s: no acknowledgement from replica(s) %s within %gs",
                                method, target, ", ".join(sorted(others - acked)), self.timeout)
                    break
                # short waits: a replica whose heartbeat runs out meanwhile is no longer waited for
                got = await redis.blpop([ack], timeout=min(remaining, HEARTBEAT))
                if got is not None:  # "<replica> <status>": only a replica that applied it counts
                    replica, _, status = str(got[1]).partition(" ")
                    if status.isdigit() and int(status) < 300:
                        acked.add(replica)
                    else:
                        refused.add(replica)
                        log.warning("control %s %s: replica %s answered %s to its replay", method, target,
                                    replica, status)
                    if others <= acked | refused:
                        break
            await redis.delete(ack)
        except (RedisError, OSError) as exc:
            log.warning("control %s %s applied here only: %s", method, target, exc)
            return f"unavailable: {type(exc).__name__}"
        return f"{len(acked & others)}/{len(others)}"

    async def _follower(self) -> None:
        assert self._reader is not None
        while not self._stopping:
            try:
                found: Any = await self._reader.xread({self.stream: self._last_id}, count=100, block=1000)
            except (RedisError, OSError):
                await asyncio.sleep(0.5)
                continue
            for _stream, items in found or []:
                for op, fields in items:
                    self._last_id = op
                    if fields.get("from") != self.replica:
                        await self._replay(op, fields)

    async def _replay(self, op: str, fields: dict[str, str]) -> None:
        """Apply another replica's call through this one's control API, then acknowledge it."""
        assert self._client is not None
        assert self._redis is not None
        headers = {name[2:]: value for name, value in fields.items() if name.startswith("h:")}
        headers[REPLAYED] = op
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        status = "failed"
        try:
            async with self._client.request(fields.get("m", "POST"), self._base + fields.get("p", "/"),
                                            data=base64.b64decode(fields.get("b", "")), headers=headers,
                                            ssl=False) as resp:
                await resp.read()
                status = str(resp.status)
                if resp.status >= 300:  # the caller's replica took it, so this one should too
                    log.warning("replayed control %s %s answered %d here", fields.get("m"), fields.get("p"),
                                resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("replayed control %s %s failed here: %s", fields.get("m"), fields.get("p"), exc)
        with contextlib.suppress(RedisError, OSError):
            ack = f"{self.prefix}:ack:{op}"
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(ack, f"{self.replica} {status}")
                pipe.expire(ack, 60)
                await pipe.execute()

    async def close(self) -> None:
        self._stopping = True
        await background.stop(self._tasks)
        self._tasks = []
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.zrem(f"{self.prefix}:replicas", self.replica)
        for client in (self._redis, self._reader):
            if client is not None:
                await client.aclose()
        if self._client is not None:
            await self._client.close()
        self._redis = self._reader = self._client = None
