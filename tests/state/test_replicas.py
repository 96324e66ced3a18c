"""Two mockserver processes on one Redis are one mock: exact counts across replicas.

Each replica is a real ``mockserver serve --port 0 --state redis://...`` process; concurrent
clients split their requests between the two ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from .conftest import RedisProcess
from .processes import serve_replicas

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = """\
name: replicas
rules:
  - name: three
    match: {path: /times}
    times: 3
    respond: {status: 201}
  - name: after
    match: {path: /times}
    respond: {status: 410}
  - name: flaky
    match: {path: /flaky}
    respond:
      - {status: 503, repeat: 3}
      - {status: 200}
  - name: bucket
    match: {path: /bucket}
    rate_limit: {rate: 1, per: 60s, burst: 7}
    respond: {status: 200}
"""


@pytest.fixture
def replicas(redis_server: RedisProcess, tmp_path: Path) -> Iterator[list[str]]:
    path = tmp_path / "replicas.yaml"
    path.write_text(SCENARIO)
    with serve_replicas(redis_server.url, f"replicas-{uuid.uuid4().hex}", path) as urls:
        yield urls


async def spread(urls: list[str], path: str, count: int) -> Counter[int]:
    """*count* concurrent requests, alternating between the replicas."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        async def one(i: int) -> int:
            async with client.get(urls[i % len(urls)] + path) as resp:
                await resp.read()
                return resp.status

        return Counter(await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), 60))


async def test_two_replicas_count_as_one_mock(replicas: list[str]) -> None:
    assert await spread(replicas, "/times", 400) == {201: 3, 410: 397}
    assert await spread(replicas, "/flaky", 400) == {503: 3, 200: 397}
    assert await spread(replicas, "/bucket", 400) == {200: 7, 429: 393}


CAPPED = """\
name: capped
rules:
  - name: held
    match: {path: /held}
    concurrency: {limit: 4, retry_after: 2s}
    when:
      - if: {query: {quick: {present: true}}}
        respond: {status: 204}
    respond: {status: 200, delay: 30s}
"""


async def test_a_concurrency_cap_holds_across_replicas_and_a_killed_replica_frees_its_slots(
        redis_server: RedisProcess, tmp_path: Path) -> None:
    """Four slots for the whole mock; the replica that holds them dies by SIGKILL; after the lease
    (1 s here) the other takes requests again."""
    path = tmp_path / "capped.yaml"
    path.write_text(CAPPED)
    with serve_replicas(redis_server.url, f"capped-{uuid.uuid4().hex}", path,
                        extra=("--state-lease", "1")) as (a, b):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
            async def status(url: str) -> tuple[int, str | None]:
                async with client.get(url) as resp:
                    await resp.read()
                    return resp.status, resp.headers.get("Retry-After")

            held = [asyncio.create_task(status(b + "/held")) for _ in range(4)]  # B takes all four
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # until B's four are in flight (journaled on arrival)
                async with client.get(b + "/__mock/journal") as resp:
                    entries = (await resp.json())["entries"]
                if sum(e["outcome"] == "pending" for e in entries) == 4:
                    break
                await asyncio.sleep(0.05)
            assert await status(a + "/held?quick=1") == (503, "2")  # the mock's fifth request
            # refused on both replicas, whichever takes the request
            assert Counter([await status(u + "/held?quick=1") for u in (a, b, a, b)]) == {(503, "2"): 4}
            async with client.get(b + "/__mock/health") as resp:
                victim = (await resp.json())["pid"]
            os.kill(victim, signal.SIGKILL)
            for task in held:
                with contextlib.suppress(aiohttp.ClientError):
                    await task
            killed = time.monotonic()
            assert await status(a + "/held?quick=1") == (503, "2")  # the dead replica's slots are leased
            while (found := await status(a + "/held?quick=1")) != (204, None) \
                    and time.monotonic() < killed + 10:
                await asyncio.sleep(0.05)
            assert found == (204, None)
            assert time.monotonic() - killed < 5  # within the lease (1 s) and a claim, not the default 60 s
