"""The state backend fails: answers, not crashes; health says so; recovery by itself; no double counts.

A redis-server of the test's own is stopped and started again on the same port under the server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import aiohttp
import pytest

from mockserver import MockServer
from mockserver.backend import STATE_UNAVAILABLE, Candidate, Claim, Slot
from mockserver.wire.redis_state import RedisBackend

from .conftest import RedisProcess, running_redis

ONCE = {"name": "once", "rules": [
    {"name": "three", "match": {"path": "/t"}, "times": 3, "respond": {"status": 201}},
    {"name": "after", "match": {"path": "/t"}, "respond": {"status": 410}},
    {"name": "static", "match": {"path": "/static"}, "respond": {"status": 200}}]}


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """Not the session's: these tests stop and start it."""
    with running_redis() as server:
        yield server


async def test_redis_down_gives_503_health_says_so_and_it_recovers(own_redis: RedisProcess) -> None:
    async with MockServer(ONCE, state=own_redis.url, state_prefix="outage") as server, \
            aiohttp.ClientSession() as client:
        async def status(path: str) -> tuple[int, str, bytes]:
            async with client.get(server.url_for(path)) as resp:
                return resp.status, resp.headers.get("Retry-After", ""), await resp.read()

        async def health() -> dict[str, object]:
            async with client.get(server.url_for("/__mock/health")) as resp:
                found: dict[str, object] = await resp.json()
                return found

        assert (await status("/t"))[0] == 201
        assert (await health())["state"] is None
        own_redis.stop()
        down = [await status("/t") for _ in range(5)]
        assert {(s, r) for s, r, _ in down} == {(503, "1")}
        body = json.loads(down[0][2])
        assert body == {"error_code": "CSS.0503", "error_msg": STATE_UNAVAILABLE}
        assert (await status("/static"))[0] == 200  # a rule that needs no state is still answered
        state = (await health())["state"]
        assert isinstance(state, str) and f"state backend {own_redis.url} unavailable" in state
        own_redis.start()  # an empty Redis on the same port (no persistence): counts start over
        for _ in range(100):
            if (await health())["state"] is None:
                break
            await asyncio.sleep(0.05)
        statuses = [(await status("/t"))[0] for _ in range(5)]
    # the 503s during the outage counted nothing; the restarted Redis is empty, so three again
    assert statuses == [201, 201, 201, 410, 410]


async def test_a_refusal_during_the_outage_counts_nothing(own_redis: RedisProcess) -> None:
    """Redis kept (paused, not restarted): what was counted before the outage is still there,
    and the requests refused meanwhile added nothing."""
    async with MockServer(ONCE, state=own_redis.url, state_prefix="paused") as server, \
            aiohttp.ClientSession() as client:
        async def status() -> int:
            async with client.get(server.url_for("/t")) as resp:
                await resp.read()
                return resp.status

        assert await status() == 201
        assert own_redis.proc is not None
        own_redis.proc.send_signal(19)  # SIGSTOP: Redis hangs; the client times out
        try:
            assert [await status() for _ in range(3)] == [503, 503, 503]
        finally:
            own_redis.proc.send_signal(18)  # SIGCONT
        for _ in range(100):
            if await server.backend.healthy() is None:
                break
            await asyncio.sleep(0.05)
        assert [await status() for _ in range(3)] == [201, 201, 410]
        hits = await server.backend.hits()
        assert hits["once/three"] == 3, hits


async def test_a_lease_that_is_never_released_expires(own_redis: RedisProcess) -> None:
    """A replica that dies holding a slot: the slot is free again after the lease time."""
    backend = RedisBackend(own_redis.url, prefix="lease", lease=0.5)
    try:
        claim = Claim("", (Candidate("r", "r#arrivals", None, "default", None, None, None, False,
                                     slot=Slot("r|*", 1)),))
        held = await backend.claim(claim)
        assert held.slotted and held.lease is not None
        assert not (await backend.claim(claim)).slotted
        await asyncio.sleep(0.6)
        assert (await backend.claim(claim)).slotted
    finally:
        await backend.close()
