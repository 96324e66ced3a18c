"""One suite, two backends: every stateful primitive answers the same in memory and in Redis.

Each test runs twice (the ``state`` fixture): the default in-memory state, and a real
redis-server through ``MockServer(state="redis://...")``. Requests go over the wire with aiohttp.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import pytest

from mockserver import MockServer


async def get(client: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with client.get(url, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


def connector() -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(limit=0, force_close=False)


async def test_times_answers_exactly_n_of_many_concurrent_requests(state: dict[str, Any]) -> None:
    scenario = {"name": "once", "rules": [
        {"name": "three", "match": {"path": "/t"}, "times": 3, "respond": {"status": 201}},
        {"name": "after", "match": {"path": "/t"}, "respond": {"status": 410}}]}
    async with MockServer(scenario, **state) as server, aiohttp.ClientSession(connector=connector()) as c:
        results = await asyncio.gather(*(get(c, server.url_for("/t")) for _ in range(60)))
    assert Counter(status for status, _, _ in results) == {201: 3, 410: 57}


async def test_fail_three_then_succeed_fails_exactly_three(state: dict[str, Any]) -> None:
    scenario = {"name": "flaky", "rules": [{"match": {"path": "/f"}, "respond": [
        {"status": 503, "repeat": 3}, {"status": 200}]}]}
    async with MockServer(scenario, **state) as server, aiohttp.ClientSession(connector=connector()) as c:
        results = await asyncio.gather(*(get(c, server.url_for("/f")) for _ in range(40)))
        assert Counter(status for status, _, _ in results) == {503: 3, 200: 37}
        # in order, one at a time, after a reset: the sequence itself
        await server.backend.reset()
        statuses = [(await get(c, server.url_for("/f")))[0] for _ in range(5)]
    assert statuses == [503, 503, 503, 200, 200]


async def test_named_states_move_and_gate_rules(state: dict[str, Any]) -> None:
    scenario = {"name": "invoice", "rules": [
        {"name": "pay", "match": {"method": "POST", "path": "/pay"}, "state": "invoice",
         "sets_state": "paid", "respond": {"status": 202}},
        {"name": "paid", "match": {"path": "/invoice"}, "state": "invoice", "requires_state": "paid",
         "respond": {"json": {"state": "paid"}}},
        {"name": "unpaid", "match": {"path": "/invoice"}, "respond": {"status": 402}}]}
    async with MockServer(scenario, **state) as server, aiohttp.ClientSession(connector=connector()) as c:
        assert (await get(c, server.url_for("/invoice")))[0] == 402
        async with c.post(server.url_for("/pay")) as resp:
            assert resp.status == 202
        assert (await get(c, server.url_for("/invoice")))[0] == 200
        assert await server.backend.states() == {"invoice": "paid"}
        await server.backend.set_state("invoice", "started")
        assert (await get(c, server.url_for("/invoice")))[0] == 402


async def test_bucket_lets_exactly_its_budget_through_with_retry_after(state: dict[str, Any]) -> None:
    scenario = {"name": "bucket", "rules": [{"match": {"path": "/b"}, "respond": {"status": 200},
                "rate_limit": {"rate": 1, "per": "10s", "burst": 5, "headers": True}}]}
    async with MockServer(scenario, **state) as server, aiohttp.ClientSession(connector=connector()) as c:
        await server.backend.reset(clock=True)
        results = await asyncio.gather(*(get(c, server.url_for("/b")) for _ in range(30)))
        assert Counter(status for status, _, _ in results) == {200: 5, 429: 25}
        refused = [headers for status, headers, _ in results if status == 429]
        # one token every 10 s: the next one is at most 10 s away, never 0
        assert all(1 <= int(h["Retry-After"]) <= 10 for h in refused)
        assert all(h["X-RateLimit-Remaining"] == "0" for h in refused)
        await server.backend.advance(10.0)
        statuses = [(await get(c, server.url_for("/b")))[0] for _ in range(2)]
    assert statuses == [200, 429]


async def test_concurrency_cap_holds_and_frees_its_slots(state: dict[str, Any]) -> None:
    scenario = {"name": "capped", "rules": [{"match": {"path": "/slow"}, "respond": {"delay": "0.8s"},
                                             "concurrency": {"limit": 4, "retry_after": "2s"}}]}
    async with MockServer(scenario, **state) as server, aiohttp.ClientSession(connector=connector()) as c:
        first = await asyncio.wait_for(
            asyncio.gather(*(get(c, server.url_for("/slow")) for _ in range(20))), 20)
        assert Counter((s, h.get("Retry-After")) for s, h, _ in first) == {(200, None): 4, (503, "2"): 16}
        for _ in range(100):  # the releases run after each answer is sent
            await asyncio.sleep(0.02)
            again = await asyncio.wait_for(asyncio.gather(*(get(c, server.url_for("/slow"))
                                                               for _ in range(4))), 20)
            if all(status == 200 for status, _, _ in again):
                break
        else:
            raise AssertionError(f"slots never freed: {[s for s, _, _ in again]}")


async def test_timeline_phase_follows_the_backend_clock(state: dict[str, Any]) -> None:
    scenario = {"name": "outage", "timeline": [{"until": "30s"}, {"until": "60s", "respond": {"status": 503},
                                                                  "retry_after": "remaining"}],
                "rules": [{"match": {"path": "/s"}, "respond": {"status": 200}}]}
    async with MockServer(scenario, **state) as server, aiohttp.ClientSession(connector=connector()) as c:
        await server.backend.reset(clock=True)
        assert (await get(c, server.url_for("/s")))[0] == 200
        await server.backend.advance(40)
        status, headers, _ = await get(c, server.url_for("/s"))
        assert status == 503
        assert 19 <= int(headers["Retry-After"]) <= 20
        await server.backend.advance(25)
        assert (await get(c, server.url_for("/s")))[0] == 200


async def test_sessions_are_separate_and_reset_one_or_all(state: dict[str, Any]) -> None:
    scenario = {"name": "once", "rules": [
        {"match": {"path": "/o"}, "times": 1, "respond": {"status": 201}},
        {"match": {"path": "/o"}, "respond": {"status": 410}}]}
    async with MockServer(scenario, **state) as server, aiohttp.ClientSession(connector=connector()) as c:
        async def hit(session: str) -> int:
            return (await get(c, server.url_for("/o"), **{"X-Mock-Session": session}))[0]

        assert [await hit("a"), await hit("a"), await hit("b"), await hit("b")] == [201, 410, 201, 410]
        assert sorted(await server.backend.sessions()) == ["a", "b"]
        await server.backend.reset("a")
        assert [await hit("a"), await hit("b")] == [201, 410]
        await server.backend.reset()
        assert [await hit("a"), await hit("b")] == [201, 201]


async def test_seeded_draws_follow_the_ordinal(state: dict[str, Any]) -> None:
    """The k-th request to a rule gets the k-th outcome: the same list from either backend."""
    scenario = {"name": "mixed", "seed": 7, "rules": [{"match": {"path": "/m"}, "mix": [
        {"weight": 1}, {"weight": 1, "respond": {"status": 500}},
        {"weight": 1, "respond": {"status": 502}}]}]}
    async with MockServer(scenario, **state) as server, aiohttp.ClientSession(connector=connector()) as c:
        statuses = [(await get(c, server.url_for("/m")))[0] for _ in range(24)]
    with MockServer(scenario) as reference:
        import requests

        with requests.Session() as s:
            s.trust_env = False
            expected = [s.get(reference.url_for("/m"), timeout=5).status_code for _ in range(24)]
    assert statuses == expected
    assert set(statuses) == {200, 500, 502}


async def test_a_sequence_with_faults_is_counted_once_per_request(state: dict[str, Any]) -> None:
    scenario = {"name": "ladder", "rules": [{"match": {"path": "/l"}, "respond": [
        {"fault": "reset", "repeat": 2}, {"status": 429, "retry_after": 2}, {"status": 200}]}]}
    async with MockServer(scenario, **state) as server, aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True)) as c:
        async def post() -> str:  # POST: aiohttp retries no reset of it by itself
            try:
                async with c.post(server.url_for("/l")) as resp:
                    return str(resp.status)
            except aiohttp.ClientError:
                return "reset"

        seen = await asyncio.gather(*(post() for _ in range(30)))
        assert Counter(seen) == {"reset": 2, "429": 1, "200": 27}
        await server.backend.reset()
        assert [await post() for _ in range(4)] == ["reset", "reset", "429", "200"]


def _lifecycle(chaotic: bool) -> dict[str, Any]:
    # a rate limit with room to spare makes a rule chaotic: its answer is counted in a second trip
    limit = {"rate_limit": {"rate": 1000, "burst": 1000}} if chaotic else {}
    return {"name": "life", "rules": [
        {"name": "restart", "match": {"method": "POST", "path": "/restart"}, "state": "server",
         "sets_state": {"to": "rebooting", "for": "10s", "then": "running"},
         "respond": {"status": 202}, **limit},
        {"name": "export", "match": {"method": "POST", "path": "/export"}, "state": "export",
         "sets_state": {"to": "pending", "reads": 3, "then": "done"}, "respond": {"status": 202}, **limit},
        {"name": "rebooting", "match": {"path": "/status"}, "state": "server", "requires_state": "rebooting",
         "respond": {"status": 503}},
        {"name": "running", "match": {"path": "/status"}, "respond": {"status": 200}},
        {"name": "pending", "match": {"path": "/export"}, "state": "export", "requires_state": "pending",
         "respond": {"status": 202}, **limit},
        {"name": "done", "match": {"path": "/export"}, "respond": {"status": 200}}]}


@pytest.mark.parametrize("chaotic", [False, True], ids=["one-trip", "counted-after-chaos"])
async def test_a_state_changes_after_its_time_on_the_backend_clock(state: dict[str, Any],
                                                                   chaotic: bool) -> None:
    async with MockServer(_lifecycle(chaotic), **state) as server, \
            aiohttp.ClientSession(connector=connector()) as c:
        await server.backend.reset(clock=True)
        async with c.post(server.url_for("/restart")) as resp:
            assert resp.status == 202
        assert (await get(c, server.url_for("/status")))[0] == 503
        await server.backend.advance(5)
        assert (await get(c, server.url_for("/status")))[0] == 503
        assert (await server.backend.states())["server"] == "rebooting"
        await server.backend.advance(5)
        assert (await server.backend.states())["server"] == "running"
        assert (await get(c, server.url_for("/status")))[0] == 200


@pytest.mark.parametrize("chaotic", [False, True], ids=["one-trip", "counted-after-chaos"])
async def test_a_state_changes_after_n_concurrent_reads(state: dict[str, Any], chaotic: bool) -> None:
    async with MockServer(_lifecycle(chaotic), **state) as server, \
            aiohttp.ClientSession(connector=connector()) as c:
        async with c.post(server.url_for("/export")) as resp:
            assert resp.status == 202
        if chaotic:  # counted in a second trip: only one at a time is exact
            statuses = [(await get(c, server.url_for("/export")))[0] for _ in range(5)]
            assert statuses == [202, 202, 202, 200, 200]
        else:
            results = await asyncio.gather(*(get(c, server.url_for("/export")) for _ in range(20)))
            assert Counter(status for status, _, _ in results) == {202: 3, 200: 17}
        assert (await server.backend.states())["export"] == "done"
        # set by hand, a state stays: the pending change is dropped
        await server.backend.set_state("export", "pending")
        assert [(await get(c, server.url_for("/export")))[0] for _ in range(4)] == [202] * 4
