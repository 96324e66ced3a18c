"""Seeded chaos is the same with 1 or N replicas: the k-th request to a rule gets the k-th outcome
of the seed, whichever replica serves it, because the ordinal behind each draw is Redis's counter."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import requests

from mockserver import MockServer

from .conftest import RedisProcess
from .processes import serve_replicas

# a rule that is otherwise stateless (one answer, no times, no states): only its mix draws
SCENARIO = """\
name: seeded
seed: 42
rules:
  - name: orders
    match: {path: /orders}
    respond: {status: 200}
    mix:
      - {weight: 50}
      - {weight: 30, respond: {status: 503, headers: {Retry-After: "1"}}}
      - {weight: 20, respond: {status: 429}}
"""

COUNT = 300


def single_server_outcomes(path: Path) -> list[int]:
    """The k-th outcome of the seed, from one in-memory server."""
    with MockServer(str(path)) as server:
        return [requests.get(server.url_for("/orders"), timeout=10).status_code for _ in range(COUNT)]


async def test_the_kth_request_gets_the_kth_outcome_on_any_replica(redis_server: RedisProcess,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "seeded.yaml"
    path.write_text(SCENARIO)
    expected = single_server_outcomes(path)
    assert len(set(expected)) == 3  # the mix does draw all three outcomes
    with serve_replicas(redis_server.url, f"seeded-{uuid.uuid4().hex}", path) as urls:
        # 16 at a time: concurrent on both replicas, without queueing past --state-timeout on a busy machine
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as client:
            async def get(url: str) -> int:
                async with client.get(url + "/orders") as resp:
                    body = await resp.read()
                    assert b"state backend is unavailable" not in body, body  # the mix's, not the backend's
                    return resp.status

            # one at a time, alternating: request k lands on replica k % 2 and gets outcome k
            alternating = [await get(urls[k % 2]) for k in range(COUNT)]
            assert alternating == expected
            requests.post(urls[1] + "/__mock/reset", timeout=10).raise_for_status()
            # all at once: whatever order they reach Redis, ordinals 0..COUNT-1 are each drawn once
            together = await asyncio.wait_for(
                asyncio.gather(*(get(urls[k % 2]) for k in range(COUNT))), 60)
            assert Counter(together) == Counter(expected)
