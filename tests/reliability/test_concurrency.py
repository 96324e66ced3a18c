"""Correct under concurrency: counters, buckets and sessions hold exactly under a burst."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp

from mockserver import MockServer

SCENARIO = {
    "name": "exact",
    "rules": [
        {"match": {"path": "/flaky"}, "respond": [{"status": 503, "repeat": 3}, {"status": 200}]},
        {"match": {"path": "/bucket"}, "rate_limit": {"rate": 0.001, "burst": 50}},
    ],
}


async def burst(server: MockServer, path: str, n: int, sessions: int = 1) -> list[tuple[str, int]]:
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as client:
        async def one(i: int) -> tuple[str, int]:
            session = f"s{i % sessions}"
            async with client.get(server.url_for(path), headers={"X-Mock-Session": session}) as resp:
                await resp.read()
                return session, resp.status

        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 60)


async def test_fail_three_times_gives_exactly_three_failures_under_1000_concurrent() -> None:
    async with MockServer(SCENARIO) as server:
        results = await burst(server, "/flaky", 1000)
    assert Counter(status for _, status in results) == {503: 3, 200: 997}


async def test_rate_limit_admits_exactly_its_burst() -> None:
    async with MockServer(SCENARIO) as server:
        results = await burst(server, "/bucket", 1000)
    assert Counter(status for _, status in results) == {200: 50, 429: 950}


async def test_sessions_never_leak_into_each_other() -> None:
    async with MockServer(SCENARIO) as server:
        results = await burst(server, "/flaky", 1000, sessions=20)
    per_session = Counter(session for session, status in results if status == 503)
    assert per_session == {f"s{i}": 3 for i in range(20)}
