"""Seeded chaos: the same seed gives the same outcomes every run, whatever the interleaving."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import requests

from mockserver import Engine, MockServer, RequestSnapshot, load_scenario

MIX: dict[str, Any] = {
    "name": "mix",
    "rules": [{
        "match": {"path": "/x"},
        "respond": {"body": "ok"},
        "mix": [
            {"weight": 80},
            {"weight": 10, "respond": {"status": 503, "headers": {"Retry-After": 1}}},
            {"weight": 5, "fault": "reset"},
            {"weight": 5, "delay": "50ms"},
        ],
    }],
}


def outcomes(seed: int, n: int = 200) -> list[str]:
    engine = Engine([load_scenario(MIX)], seed=seed)
    out = []
    for _ in range(n):
        res = engine.resolve(RequestSnapshot("GET", "/x"))
        out.append("reset" if res.fault else f"{res.plan.status}{'+delay' if res.delay else ''}")
    return out


def test_same_seed_same_outcomes_other_seed_others() -> None:
    first, again, other = outcomes(1), outcomes(1), outcomes(2)
    assert first == again
    assert first != other
    counts = Counter(first)
    assert 140 <= counts["200"] <= 180 and counts["503"] >= 8 and counts["reset"] >= 3


def test_each_decision_is_written_down() -> None:
    engine = Engine([load_scenario(MIX)], seed=1)
    res = engine.resolve(RequestSnapshot("GET", "/x"))
    assert res.decisions and res.decisions[0].startswith("mix: draw 0.")


async def test_concurrency_does_not_change_the_outcomes() -> None:
    """100 concurrent requests get the outcomes 100 sequential ones get: the nth arrival's draw
    depends on n only. (aiohttp retries an idempotent request once after a reset, so the server
    may see a few more; those are compared too.)"""
    scenario = {**MIX, "seed": 7}
    connector = aiohttp.TCPConnector(limit=0)
    async with MockServer(scenario) as server, aiohttp.ClientSession(connector=connector) as session:

        async def one() -> str:
            try:
                async with session.get(server.url_for("/x")) as resp:
                    await resp.read()
                    return str(resp.status)
            except aiohttp.ClientError:
                return "reset"

        got = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(100))), 30)
    entries = server.journal.entries()
    served = Counter("reset" if e.outcome == "fault" else str(e.status) for e in entries)
    expected = Counter(o.replace("+delay", "") for o in outcomes(7, len(entries)))
    assert served == expected
    assert len(got) == 100


def test_scenario_level_mix_applies_to_every_rule() -> None:
    scenario = {"name": "all", "seed": 3, "mix": [{"weight": 1}, {"weight": 1, "respond": {"status": 500}}],
                "rules": [{"match": {"path": "/a"}}, {"match": {"path": "/b"}}]}
    with MockServer(scenario) as server:
        statuses = {requests.get(server.url_for(p), timeout=5).status_code for p in ["/a", "/b"] * 10}
    assert statuses == {200, 500}
