"""Sequences with faults: "reset, reset, then 429 with Retry-After 2, then 200" is one rule.

Unit tests on the engine (no sockets), the load errors with file:line:col, then real clients
(requests, httpx, aiohttp, urllib3's Retry) over 127.0.0.1, and the shipped retry-ladder example.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import aiohttp
import httpx
import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from mockserver import Engine, MockServer, RequestSnapshot, ScenarioError, load_scenario
from mockserver.assertions import assert_retry_after_honoured
from mockserver.scenario import BUILTIN_DIR, load_text
from tests.conftest import raw_exchange
from tests.integration.test_builtin_scenarios import exercises

LADDER: dict[str, Any] = {
    "name": "ladder",
    "rules": [
        {
            "name": "job",
            "match": {"path": "/job"},
            "respond": [
                {"fault": "reset", "repeat": 2},
                {"status": 429, "retry_after": 2},
                {"status": 200, "json": {"ok": True}},
            ],
        }
    ],
}


def outcomes(engine: Engine, n: int, **headers: str) -> list[str]:
    out = []
    for _ in range(n):
        res = engine.resolve(RequestSnapshot("GET", "/job", headers=headers))
        out.append(type(res.fault).__name__.lower() if res.fault is not None else str(res.plan.status))
    return out


# --- the engine, no sockets --------------------------------------------------------------------------


def test_faults_and_answers_come_in_the_declared_order() -> None:
    engine = Engine([load_scenario(LADDER)])
    assert outcomes(engine, 6) == ["reset", "reset", "429", "200", "200", "200"]


def test_the_sequence_is_counted_per_session() -> None:
    engine = Engine([load_scenario(LADDER)])
    assert outcomes(engine, 2, **{"X-Mock-Session": "a"}) == ["reset", "reset"]
    assert outcomes(engine, 1, **{"X-Mock-Session": "b"}) == ["reset"]
    assert outcomes(engine, 2, **{"X-Mock-Session": "a"}) == ["429", "200"]


def test_then_and_cycle_may_be_faults_too() -> None:
    cycling = Engine(
        [
            load_scenario(
                {
                    "name": "c",
                    "rules": [
                        {
                            "match": {"path": "/job"},
                            "then": "cycle",
                            "respond": [{"status": 200}, {"fault": "close"}],
                        }
                    ],
                }
            )
        ]
    )
    assert outcomes(cycling, 4) == ["200", "close", "200", "close"]
    ending = Engine(
        [
            load_scenario(
                {
                    "name": "e",
                    "rules": [
                        {"match": {"path": "/job"}, "then": {"fault": "reset"}, "respond": [{"status": 200}]}
                    ],
                }
            )
        ]
    )
    assert outcomes(ending, 3) == ["200", "reset", "reset"]


def test_an_item_fault_wins_over_the_rules_fault_for_its_turn_only() -> None:
    engine = Engine(
        [
            load_scenario(
                {
                    "name": "w",
                    "rules": [
                        {
                            "match": {"path": "/job"},
                            "fault": "close",
                            "respond": [{"fault": "reset"}, {"status": 200}],
                        }
                    ],
                }
            )
        ]
    )
    assert outcomes(engine, 3) == ["reset", "close", "close"]


def test_a_fault_that_sends_a_status_keeps_the_items_status() -> None:
    engine = Engine(
        [
            load_scenario(
                {
                    "name": "t",
                    "rules": [
                        {
                            "match": {"path": "/job"},
                            "respond": [
                                {"status": 503, "fault": {"type": "truncate", "bytes": 3}},
                                {"status": 200},
                            ],
                        }
                    ],
                }
            )
        ]
    )
    first = engine.resolve(RequestSnapshot("GET", "/job"))
    assert (first.plan.status, type(first.fault).__name__) == (503, "Truncate")


def test_the_journal_decision_names_the_sequence_item() -> None:
    text = ("name: ladder\nrules:\n  - match: {path: /job}\n    respond:\n"
            "      - fault: reset\n      - status: 200\n")
    engine = Engine([load_text(text, "ladder.yaml")])
    first = engine.resolve(RequestSnapshot("GET", "/job"))
    assert first.decisions == ["fault: reset (sequence answer at ladder.yaml:5)"]
    assert first.injected == ["fault"]
    assert engine.resolve(RequestSnapshot("GET", "/job")).decisions == []


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "{fault: resett}",
            "ladder.yaml:5:17: rules[0].respond[0].fault: found 'resett'; expected 'reset', ",
        ),
        (
            "{fault: {type: reset, bytes: 3}}",
            "ladder.yaml:5:17: rules[0].respond[0].fault: found 'bytes'; "
            "expected only fields that apply to reset: after",
        ),
        (
            "{fault: reset, repeat: 0}",
            "ladder.yaml:5:32: rules[0].respond[0].repeat: found 0; expected a number >= 1",
        ),
    ],
)
def test_a_bad_item_is_refused_where_it_is_written(item: str, message: str) -> None:
    text = "name: ladder\nrules:\n  - match: {path: /job}\n    respond:\n"
    text += f"      - {item}\n      - status: 200\n"
    with pytest.raises(ScenarioError) as info:
        load_text(text, "ladder.yaml")
    assert str(info.value).startswith(message)


def test_a_fault_on_the_expect_answer_is_refused() -> None:
    text = "name: e\nrules:\n  - match: {path: /up}\n    expect: {status: 417, fault: reset}\n"
    with pytest.raises(ScenarioError) as info:
        load_text(text, "e.yaml")
    assert str(info.value) == (
        "e.yaml:4:34: rules[0].expect.fault: found a fault on the answer to Expect: "
        "100-continue; expected none (a fault belongs in respond, a sequence item or then)"
    )


# --- on the wire -------------------------------------------------------------------------------------


def test_raw_socket_sees_rst_rst_then_429_with_retry_after_then_200() -> None:
    with MockServer(LADDER) as server:
        request = b"GET /job HTTP/1.1\r\nHost: x\r\n\r\n"
        seen = [raw_exchange(server.port, request, timeout=1.0) for _ in range(4)]
        assert [end for _, end in seen[:2]] == ["RST", "RST"]
        assert [data for data, _ in seen[:2]] == [b"", b""]
        assert seen[2][0].startswith(b"HTTP/1.1 429 ") and b"\r\nRetry-After: 2\r\n" in seen[2][0]
        assert seen[3][0].startswith(b"HTTP/1.1 200 ")
        entries = server.journal.wait_for(4, timeout=5)
        assert [(e.status, e.fault) for e in entries] == [
            (None, "reset"),
            (None, "reset"),
            (429, None),
            (200, None),
        ]
        assert entries[0].decisions[0].startswith("fault: reset (sequence answer at ")


def test_requests_sees_the_ladder_in_order() -> None:
    with MockServer(LADDER) as server:
        seen: list[str] = []
        for _ in range(4):
            with requests.Session() as session:
                try:
                    seen.append(str(session.get(server.url_for("/job"), timeout=5).status_code))
                except requests.ConnectionError:
                    seen.append("reset")
    assert seen == ["reset", "reset", "429", "200"]


def test_httpx_sees_the_ladder_in_order() -> None:
    with MockServer(LADDER) as server, httpx.Client(trust_env=False, timeout=5) as client:
        seen: list[str] = []
        for _ in range(4):
            try:
                seen.append(str(client.get(server.url_for("/job")).status_code))
            except httpx.TransportError:
                seen.append("reset")
    assert seen == ["reset", "reset", "429", "200"]


async def test_aiohttp_sees_the_ladder_and_retries_a_reset_get_once_by_itself() -> None:
    """aiohttp retries an idempotent request once on a dropped connection (RFC 9112 9.3.1), so
    a GET meets both resets as one error; a POST, not retried, meets each of them."""
    async with MockServer(LADDER) as server, aiohttp.ClientSession() as client:

        async def seen(method: str, n: int) -> list[str]:
            out = []
            for _ in range(n):
                try:
                    async with client.request(method, server.url_for("/job")) as resp:
                        out.append(str(resp.status))
                except aiohttp.ClientError:
                    out.append("reset")
            return out

        assert await seen("GET", 3) == ["reset", "429", "200"]
        assert [(e.method, e.status, e.fault) for e in await server.journal.wait_for_async(4, timeout=5)] == [
            ("GET", None, "reset"),
            ("GET", None, "reset"),
            ("GET", 429, None),
            ("GET", 200, None),
        ]
        server.reset()
        assert await seen("POST", 4) == ["reset", "reset", "429", "200"]


def test_urllib3_retry_climbs_the_ladder_and_honours_retry_after() -> None:
    retry = Retry(
        total=5,
        connect=0,
        read=2,
        status=1,
        status_forcelist=[429],
        backoff_factor=0,
        respect_retry_after_header=True,
        allowed_methods=["GET"],
    )
    with MockServer(LADDER) as server, requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        started = time.monotonic()
        answer = session.get(server.url_for("/job"), timeout=5)
        elapsed = time.monotonic() - started
        assert (answer.status_code, answer.json()) == (200, {"ok": True})
        entries = server.journal.wait_for(4, timeout=5)
        assert [(e.status, e.fault) for e in entries] == [
            (None, "reset"),
            (None, "reset"),
            (429, None),
            (200, None),
        ]
        # the client slept the 429's Retry-After before its fourth try
        assert entries[3].arrived - entries[2].arrived >= 2.0
        assert elapsed >= 2.0
        assert_retry_after_honoured(server.journal, engine=server.engine)


async def test_concurrent_requests_get_each_item_exactly_as_often_as_declared() -> None:
    async with (
        MockServer(LADDER) as server,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True)) as client,
    ):

        async def one() -> str:
            try:  # POST: aiohttp does not retry it, so each request is one arrival
                async with client.post(server.url_for("/job")) as resp:
                    return str(resp.status)
            except aiohttp.ClientError:
                return "reset"

        seen = await asyncio.gather(*(one() for _ in range(30)))
        assert Counter(seen) == {"reset": 2, "429": 1, "200": 27}
        assert Counter((e.status, e.fault) for e in await server.journal.wait_for_async(30, timeout=5)) == {
            (None, "reset"): 2,
            (429, None): 1,
            (200, None): 27,
        }


@exercises("chaos/retry-ladder.yaml")
def test_shipped_retry_ladder() -> None:
    retry = Retry(
        total=5,
        connect=0,
        read=2,
        status=1,
        status_forcelist=[429],
        backoff_factor=0,
        respect_retry_after_header=True,
        allowed_methods=["GET"],
    )
    with MockServer([BUILTIN_DIR / "chaos" / "retry-ladder.yaml"]) as server, requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        assert session.get(server.url_for("/ladder/jobs/7"), timeout=5).json() == {"id": "7", "state": "done"}
        # each job has its own ladder; another session starts at the bottom of it again
        with requests.Session() as plain:
            with pytest.raises(requests.ConnectionError):
                plain.get(server.url_for("/ladder/jobs/8"), timeout=5)
            assert plain.get(server.url_for("/ladder/jobs/7"), timeout=5).status_code == 200
        with requests.Session() as other, pytest.raises(requests.ConnectionError):
            other.get(server.url_for("/ladder/jobs/7"), headers={"X-Mock-Session": "b"}, timeout=5)
        assert [(e.status, e.fault) for e in server.journal.wait_for(7, timeout=5)][:4] == [
            (None, "reset"),
            (None, "reset"),
            (429, None),
            (200, None),
        ]
