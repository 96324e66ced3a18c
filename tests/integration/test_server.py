"""The server over 127.0.0.1 with real clients: aiohttp (async) and requests (sync, threaded)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import aiohttp
import pytest
import requests

from mockserver import MockServer
from mockserver.journal import Outcome
from tests.conftest import raw_exchange

SCENARIO: dict[str, Any] = {
    "name": "wire",
    "defaults": {"headers": {"X-Served-By": "mockserver"}},
    "rules": [
        {"name": "cluster", "match": {"method": "GET", "path": "/v1.0/{project_id}/clusters/{id}"},
         "respond": {"json": {"id": "{{ path.id }}", "project": "{{ path.project_id }}",
                              "limit": "{{ query.limit | default(10) }}"}}},
        {"name": "slow", "match": {"path": "/slow"}, "respond": {"delay": "1s", "body": "late"}},
        {"name": "busy", "match": {"path": "/busy"},
         "respond": {"status": 503, "headers": {"Retry-After": 1}}},
        {"name": "create", "match": {"method": "POST", "path": "/orders",
                                      "json": {"paths": {"qty": {"regex": "^[1-9]$"}}}},
         "respond": {"status": 201, "headers": {"Location": "/orders/{{ json.id }}"}}},
        {"name": "flaky", "match": {"path": "/flaky"},
         "respond": [{"status": 500, "repeat": 2}, {"status": 200, "body": "ok"}]},
        {"name": "delayed", "match": {"path": "/delayed"}, "respond": {"delay": "200ms", "body": "z"}},
    ],
}


async def test_async_with_and_aiohttp_client() -> None:
    async with MockServer(SCENARIO) as server, aiohttp.ClientSession() as session:
        assert server.port > 0
        async with session.get(server.url_for("/v1.0/p1/clusters/c9?limit=3")) as resp:
            assert resp.status == 200 and resp.reason == "OK"
            assert await resp.json() == {"id": "c9", "project": "p1", "limit": "3"}
            assert resp.headers["X-Served-By"] == "mockserver"
            request_id = resp.headers["X-Request-Id"]
        async with session.get(server.url_for("/busy")) as resp:
            assert (resp.status, resp.reason) == (503, "ServiceUnavailable")
            assert resp.headers["Retry-After"] == "1"
            assert await resp.json() == {"error_code": "CSS.0503",
                                         "error_msg": "The requested service is invalid."}
    entries = server.journal.entries()
    assert (entries[0].rule, entries[0].status, entries[0].request_id) == ("wire/cluster", 200, request_id)


def test_with_runs_a_threaded_server_for_sync_clients() -> None:
    with MockServer(SCENARIO) as server:
        s = requests.Session()
        assert [s.get(server.url_for("/flaky")).status_code for _ in range(4)] == [500, 500, 200, 200]
        r = s.post(server.url_for("/orders"), json={"id": 7, "qty": 3})
        assert r.status_code == 201 and r.headers["Location"] == "/orders/7"
        r = s.post(server.url_for("/orders"), json={"id": 7, "qty": 30})
        assert r.status_code == 404
        assert r.json()["near_misses"][0]["mismatches"] == ["json qty: expected regex '^[1-9]$', got 30"]
        assert r.reason == "NotFound"
    assert not any(t.name.startswith("mockserver:") for t in threading.enumerate())


def test_timeout_parameter_gives_504_at_the_deadline_only_when_sent() -> None:
    """504 ServerTimeout comes only when the request carries Timeout, at that moment."""
    with MockServer(SCENARIO) as server:
        started = time.monotonic()
        r = requests.get(server.url_for("/slow"), params={"Timeout": "200ms"}, timeout=5)
        waited = time.monotonic() - started
        assert (r.status_code, r.reason) == (504, "ServerTimeout")
        assert r.json()["error_code"] == "CSS.0504"
        assert 0.18 <= waited < 0.9
        r = requests.get(server.url_for("/slow"), headers={"Timeout": "0.1"}, timeout=5)
        assert r.status_code == 504
        started = time.monotonic()
        r = requests.get(server.url_for("/slow"), timeout=5)
        assert r.status_code == 200 and r.text == "late"
        assert time.monotonic() - started >= 0.95
        r = requests.get(server.url_for("/slow"), params={"Timeout": "5"}, timeout=5)
        assert r.status_code == 200
        outcomes = [e.outcome for e in server.journal.entries()]
        assert outcomes == ["timed_out", "timed_out", "answered", "answered"]


def test_status_line_on_the_wire() -> None:
    with MockServer(SCENARIO) as server:
        data, _ = raw_exchange(server.port, b"GET /slow?Timeout=0 HTTP/1.1\r\nHost: x\r\n"
                                            b"Connection: close\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 504 ServerTimeout"
        assert b"Content-Type: application/json" in lines
        assert any(line.startswith(b"X-Request-Id: ") for line in lines)
        assert body.startswith(b'{"error_code": "CSS.0504"')


async def test_many_delayed_requests_cost_no_threads() -> None:
    """500 requests held by a 200 ms delay at once: all answered, no thread per request."""
    async with MockServer(SCENARIO) as server:
        threads_before = threading.active_count()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            async def one() -> int:
                async with session.get(server.url_for("/delayed")) as resp:
                    await resp.read()
                    return resp.status

            started = time.monotonic()
            results = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(500))), 30)
            elapsed = time.monotonic() - started
        assert results == [200] * 500
        assert threading.active_count() == threads_before
        assert elapsed < 20  # serially this would take 100 s


def test_head_gets_headers_without_body() -> None:
    with MockServer(SCENARIO) as server:
        data, _ = raw_exchange(server.port, b"HEAD /v1.0/p/clusters/c HTTP/1.1\r\nHost: x\r\n"
                                            b"Connection: close\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"Content-Length: " in head and body == b""


def test_load_replace_remove_and_reset() -> None:
    with MockServer(SCENARIO) as server:
        assert requests.get(server.url_for("/flaky")).status_code == 500
        server.load({"name": "extra", "rules": [{"match": {"path": "/extra"}, "respond": {"status": 202}}]})
        assert requests.get(server.url_for("/extra")).status_code == 202
        assert requests.get(server.url_for("/flaky")).status_code == 500  # counters survive a load
        server.reset()
        assert requests.get(server.url_for("/flaky")).status_code == 500  # ...and reset starts over
        assert len(server.journal) == 1
        assert server.remove("extra") is True
        assert requests.get(server.url_for("/extra")).status_code == 404
        server.replace({"name": "only", "rules": [{"match": {"path": "/only"}}]})
        assert [s.name for s in server.scenarios] == ["only"]
        assert requests.get(server.url_for("/flaky")).status_code == 404


def test_failed_load_keeps_what_was_served() -> None:
    from mockserver import ScenarioError

    with MockServer(SCENARIO) as server:
        with pytest.raises(ScenarioError):
            server.load({"name": "broken", "rules": [{"respond": {"status": 42}}]})
        assert [s.name for s in server.scenarios] == ["wire"]
        assert requests.get(server.url_for("/busy")).status_code == 503


def test_port_in_use_is_reported() -> None:
    with MockServer(SCENARIO) as first:
        second = MockServer(SCENARIO, port=first.port)
        with pytest.raises(OSError, match="address already in use"):
            second.start_in_thread()


def test_journal_records_arrival_and_the_headers_sent() -> None:
    """A delayed request is journaled on arrival (pending), then replaced by the entry of what
    was sent; the pending entry a reader took stays as it was (entries are values)."""
    scenario = {"name": "j", "rules": [
        {"match": {"path": "/later"}, "respond": {"delay": "1s", "body": "x"}},
        {"match": {"path": "/limited"}, "rate_limit": {"rate": 0.01, "burst": 1}},
    ]}
    with MockServer(scenario) as server:
        done = threading.Event()
        threading.Thread(target=lambda: (requests.get(server.url_for("/later"), timeout=5), done.set()),
                         daemon=True).start()
        entries = server.journal.wait_for(1, path="/later", timeout=0.8)
        assert entries[0].outcome == "pending" and not done.is_set()
        assert done.wait(5)
        assert entries[0].outcome == "pending"
        [later] = server.journal.select(path="/later")
        assert later.outcome == "answered" and later.status == 200 and later.seq == entries[0].seq
        s = requests.Session()
        s.get(server.url_for("/limited"))
        refused = s.get(server.url_for("/limited"))
        entry = server.journal.entries()[-1]
        assert entry.status == 429
        assert entry.response_header("Retry-After") == refused.headers["Retry-After"]
        assert entry.response_header("X-Request-Id") == refused.headers["X-Request-Id"]
        assert [e.seq for e in server.journal.entries()] == [1, 2, 3]


@pytest.mark.parametrize("path", ["/orders/7", "/orders/7/later"])
def test_every_field_of_a_journaled_exchange(path: str) -> None:
    """The server builds entries positionally (docs/performance.md): each field is pinned here,
    for a plain answer and for a delayed one (journaled pending, then settled)."""
    scenario = {"name": "fields", "rules": [
        {"name": "order", "match": {"method": "POST", "path": "/orders/{id}"},
         "respond": {"status": 201, "reason": "Made", "headers": {"X-Kind": "order"}, "body": "made"}},
        {"name": "later", "match": {"method": "POST", "path": "/orders/{id}/later"},
         "respond": {"delay": "50ms", "status": 202, "body": "soon"},
         "deadline": {"query": None, "header": "Timeout", "unit": "s"}},
    ]}
    with MockServer(scenario) as server:
        before = time.time()
        answer = requests.post(server.url_for(f"{path}?a=1&b=2"), data=b"payload",
                               headers={"X-Mock-Session": "s1", "Timeout": "5"}, timeout=5)
        after = time.time()
        [entry] = server.journal.entries()
        rule = "fields/later" if path.endswith("later") else "fields/order"
        assert (entry.seq, entry.request_id, entry.method, entry.path, entry.query_string) == (
            1, answer.headers["X-Request-Id"], "POST", path, "a=1&b=2")
        assert entry.headers["X-Mock-Session"] == "s1" and entry.body == b"payload"
        assert (entry.client, entry.session, entry.rule) == ("127.0.0.1", "s1", rule)
        assert (entry.status, entry.reason, entry.outcome) == (
            answer.status_code, answer.reason, Outcome.ANSWERED)
        assert entry.response_header("X-Request-Id") == answer.headers["X-Request-Id"]
        assert (entry.fault, entry.injected, entry.layer, entry.sni, entry.near_misses) == (
            None, (), "http", None, ())
        assert entry.first_byte is not None and entry.ended is not None
        assert before <= entry.arrived <= entry.first_byte <= entry.ended <= after
        if path.endswith("later"):
            assert (entry.delay, entry.deadline) == (0.05, 5.0)
            assert entry.first_byte - entry.arrived >= 0.045
        else:
            assert (entry.delay, entry.deadline, entry.decisions) == (0.0, None, ())
            assert entry.response_header("X-Kind") == "order"


def test_journal_keeps_the_request_headers_as_the_server_read_them() -> None:
    """Entries keep the parser's header pairs (smaller than a multidict) and read like one:
    any case, repeated names, UTF-8 values, and as JSON through as_dict()."""
    with MockServer({"name": "h", "rules": [{"match": {"path": "/h"}, "respond": {"body": "ok"}}]}) as server:
        raw_exchange(server.port, "GET /h HTTP/1.1\r\nHost: x\r\nX-Tag: a\r\nx-tag: b\r\n"
                                  "X-Name: Zoë\r\nConnection: close\r\n\r\n".encode())
        entry = server.journal.entries()[-1]
        assert entry.headers["x-name"] == entry.headers["X-NAME"] == "Zoë"
        assert entry.headers["X-Tag"] == "a" and entry.headers.getall("X-TAG") == ["a", "b"]
        assert entry.headers.getall("X-Missing", []) == []
        with pytest.raises(KeyError):
            entry.headers.getall("X-Missing")
        assert "host" in entry.headers and "X-Missing" not in entry.headers
        assert {name.lower() for name in entry.headers} == {"host", "x-tag", "x-name", "connection"}
        assert entry.as_dict()["headers"] == {"Host": "x", "X-Tag": "a, b", "X-Name": "Zoë",
                                              "Connection": "close"}  # repeated values joined
        assert entry.as_dict()["header_pairs"] == [["Host", "x"], ["X-Tag", "a"], ["x-tag", "b"],
                                                   ["X-Name", "Zoë"], ["Connection", "close"]]
        assert entry.decisions == ()


def test_repeated_request_headers_are_kept_once() -> None:
    """A client in a loop sends the same headers each time; the journal keeps one copy of them."""
    with MockServer({"name": "h", "rules": [{"match": {"path": "/h"}, "respond": {"body": "ok"}}]}) as server:
        s = requests.Session()
        for _ in range(3):
            s.get(server.url_for("/h"), headers={"X-Try": "same"}, timeout=5)
        s.get(server.url_for("/h"), headers={"X-Try": "other"}, timeout=5)
        first, second, third, other = server.journal.entries()
        assert first.headers is second.headers is third.headers
        assert other.headers is not third.headers
        assert (third.headers["X-Try"], other.headers["X-Try"]) == ("same", "other")
