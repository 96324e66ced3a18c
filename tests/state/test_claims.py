"""The in-memory backend's claim is the engine's own synchronous path, decision for decision.

The server serves memory state through Engine.resolve (no claim objects, the fast path); a shared
backend goes through Engine.resolve_async and one Claim. MemoryBackend.claim_now is the reference
of what a claim means, so the two paths must agree on every status, ordinal and decision.
"""

from __future__ import annotations

from typing import Any

from mockserver import Engine, RequestSnapshot, load_scenario
from mockserver.backend import MemoryBackend
from mockserver.state import StateStore

SCENARIO: dict[str, Any] = {"name": "all", "seed": 3, "rules": [
    {"name": "once", "match": {"path": "/once"}, "times": 2, "respond": {"status": 201}},
    {"name": "gone", "match": {"path": "/once"}, "respond": {"status": 410}},
    {"name": "seq", "match": {"path": "/seq"}, "respond": [{"status": 503, "repeat": 2}, {"status": 200}],
     "then": "cycle"},
    {"name": "pay", "match": {"method": "POST", "path": "/pay"}, "state": "inv", "sets_state": "paid",
     "respond": {"status": 202}},
    {"name": "paid", "match": {"path": "/inv"}, "state": "inv", "requires_state": "paid"},
    {"name": "unpaid", "match": {"path": "/inv"}, "respond": {"status": 402}},
    {"name": "mixed", "match": {"path": "/mix"}, "times": 9, "mix": [
        {"weight": 1}, {"weight": 1, "respond": {"status": 500}}]},
    {"name": "limited", "match": {"path": "/rl"}, "rate_limit": {"rate": 1, "per": "1s", "burst": 2,
                                                                 "headers": True}},
    {"name": "capped", "match": {"path": "/cap"}, "concurrency": {"limit": 1}},
]}

REQUESTS = ([("GET", "/once")] * 4 + [("GET", "/seq")] * 7 + [("GET", "/inv"), ("POST", "/pay"),
            ("GET", "/inv")] + [("GET", "/mix")] * 14 + [("GET", "/rl")] * 4 + [("GET", "/cap")] * 2
            + [("GET", "/nothing")])


def run(use_claims: bool) -> list[tuple[object, ...]]:
    import asyncio

    store = StateStore()
    backend = MemoryBackend(store)
    engine = Engine([load_scenario(SCENARIO)], store, clock=backend.scaled_now)
    seen: list[tuple[object, ...]] = []

    async def go() -> None:
        for method, path in REQUESTS:
            request = RequestSnapshot(method, path, headers={"X-Mock-Session": "s"})
            res = (await engine.resolve_async(request, backend)) if use_claims else engine.resolve(request)
            seen.append((path, res.plan.status, res.ordinal, res.rule.id if res.rule else None,
                         tuple(res.decisions), tuple(res.extra_headers)))
        # the slot of the first /cap is still held (never released): the second was refused

    asyncio.run(go())
    seen.append(("hits", tuple(sorted(store.session("s").hits.items())), store.states("s")))
    return seen


def test_a_claim_decides_what_the_synchronous_path_decides() -> None:
    expected = run(use_claims=False)
    assert run(use_claims=True) == expected
    statuses = [entry[1] for entry in expected[:-1]]
    assert statuses[:4] == [201, 201, 410, 410]
    assert statuses[4:11] == [503, 503, 200, 503, 503, 200, 503]
    assert statuses[11:14] == [402, 202, 200]
    assert {500, 200} <= set(statuses[14:28])
    assert statuses[28:32] == [200, 200, 429, 429]
    assert statuses[32:34] == [200, 503]
    assert statuses[34] == 404
