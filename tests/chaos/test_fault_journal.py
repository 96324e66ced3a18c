"""A fault is journaled as the client met it: no status when none was sent, and the fault's name.

The journal, the HTTP journal, a remote client's view of it, the metrics and the assertions all
say the same thing, so that ``count(status=200)`` counts answers that were 200 on the wire.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from mockserver import MockServer
from mockserver.assertions import MockAssertionError, assert_called, assert_no_request_after
from mockserver.control.metrics import JsonLog
from mockserver.control.remote import RemoteMockServer
from mockserver.journal import Entry
from tests.conftest import raw_exchange

# (fault, what the client saw first: a status line, or none at all)
FAULTS: list[tuple[Any, int | None]] = [
    ("reset", None),
    ("close", None),
    ({"type": "drop", "after": "50ms"}, None),
    ("hang", None),
    ({"type": "garbage", "bytes": 32}, None),
    ("malformed_status", None),
    ({"type": "truncate", "bytes": 5}, 503),
    ("malformed_chunk", 503),
    ({"type": "drip", "chunks": 2, "over": "100ms"}, 503),
    ({"type": "slow_headers", "delay": "10ms", "interval": "10ms", "chunk_size": 64}, 503),
    ({"type": "keepalive_drop", "requests": 1}, 503),
]


def _name(fault: Any) -> str:
    return fault if isinstance(fault, str) else str(fault["type"])


SCENARIO = {
    "name": "faulty",
    "rules": [{"name": _name(f), "match": {"path": f"/{_name(f)}"}, "fault": f,
               # 503, not the default 200: a journaled status must come from what was sent
               "respond": {"status": 503, "json": {"items": list(range(20))}}} for f, _ in FAULTS],
}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO, max_delay=0.3) as s:
        yield s


def _hit(server: MockServer, name: str) -> tuple[bytes, Entry]:
    server.reset()
    data, _ = raw_exchange(server.port, f"GET /{name} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    entry = server.journal.wait_for(1, timeout=2, path=f"/{name}")[0]
    return data, entry


@pytest.mark.parametrize(("fault", "status"), FAULTS, ids=[_name(f) for f, _ in FAULTS])
def test_each_fault_journals_what_the_client_saw(server: MockServer, fault: Any, status: int | None) -> None:
    name = _name(fault)
    data, entry = _hit(server, name)
    sent_a_status = data.startswith(b"HTTP/1.1 503 ")
    assert sent_a_status == (status is not None)  # the wire says which kind this fault is
    assert (entry.status, entry.fault, entry.outcome) == (status, name, "fault")
    assert entry.reason == ("" if status is None else "ServiceUnavailable")
    if status is None:
        assert entry.response_headers == ()  # no header reached the client as HTTP either
    assert server.journal.count(status=200) == 0
    assert server.journal.count(status=503) == (status is not None)
    assert server.journal.count(fault=name) == 1
    assert server.journal.count(fault=["reset", "close"]) == (name in ("reset", "close"))
    # the HTTP journal and a remote client read the same
    found = requests.get(server.url_for("/__mock/journal"), timeout=5).json()["entries"][0]
    assert (found["status"], found["fault"], found["outcome"]) == (status, name, "fault")
    remote = RemoteMockServer(server.url).journal
    entries = remote.entries()
    assert [(e.status, e.fault, e.reason) for e in entries] == [(status, name, entry.reason)]
    assert remote.count(status=200) == 0 and remote.count(fault=name) == 1


def test_the_http_journal_filters_by_fault(server: MockServer) -> None:
    server.reset()
    for path in ("/reset", "/truncate", "/reset"):
        raw_exchange(server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    server.journal.wait_for(3, timeout=2)
    journal = server.url_for("/__mock/journal")
    assert requests.get(journal, params={"fault": "reset"}, timeout=5).json()["count"] == 2
    both = requests.get(journal, params=[("fault", "reset"), ("fault", "truncate")], timeout=5).json()
    assert both["count"] == 3
    assert requests.get(journal, params={"status": 503}, timeout=5).json()["count"] == 1


def test_a_failure_message_says_no_status_and_the_fault(server: MockServer) -> None:
    _hit(server, "reset")
    raw_exchange(server.port, b"GET /truncate HTTP/1.1\r\nHost: x\r\n\r\n")
    server.journal.wait_for(2, timeout=2)
    with pytest.raises(MockAssertionError) as caught:
        assert_called(server.journal, status=200)
    message = str(caught.value)
    assert "GET /reset -> no status (rule faulty/reset, fault reset)" in message
    assert "GET /truncate -> 503 ServiceUnavailable (rule faulty/truncate, fault truncate)" in message


def test_metrics_label_faults_without_a_status(server: MockServer) -> None:
    with MockServer(SCENARIO, max_delay=0.3) as fresh:
        for path in ("/reset", "/reset", "/truncate"):
            raw_exchange(fresh.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        fresh.journal.wait_for(3, timeout=2)
        text = requests.get(fresh.url_for("/__mock/metrics"), timeout=5).text
    samples = {(s.labels["rule"], s.labels["status"], s.labels["outcome"], s.labels["fault"]): s.value
               for f in text_string_to_metric_families(text) if f.name == "mockserver_requests"
               for s in f.samples}
    assert samples == {("faulty/reset", "", "fault", "reset"): 2,
                       ("faulty/truncate", "503", "fault", "truncate"): 1}


RETRIED = {"name": "retried", "rules": [
    {"name": "reset", "match": {"path": "/thing"}, "times": 2, "fault": "reset"},
    {"name": "throttled", "match": {"path": "/thing"}, "times": 1,
     "respond": {"status": 429, "headers": {"Retry-After": "0"}}},
    {"name": "ok", "match": {"path": "/thing"}, "respond": {"json": {"ok": True}}},
]}


def test_a_correct_retrying_client_passes_count_and_no_request_after() -> None:
    """requests + urllib3 Retry meets 2 resets, a 429, then 200: it stops at the 200, and the
    journal says so (before the fix, the first reset was the "first 200")."""
    retry = Retry(total=5, connect=0, read=3, status=2, status_forcelist=[429], backoff_factor=0,
                  allowed_methods=["GET"], raise_on_status=True)
    with MockServer(RETRIED) as server, requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        answer = session.get(server.url_for("/thing"), timeout=5)
        assert (answer.status_code, answer.json()) == (200, {"ok": True})
        journal = server.journal
        assert [(e.status, e.fault) for e in journal.entries()] == [
            (None, "reset"), (None, "reset"), (429, None), (200, None)]
        assert journal.count(status=200) == 1
        assert journal.count(fault="reset") == 2
        assert_no_request_after(journal, status=200, path="/thing")
        assert_called(journal, "ok", times=1, status=200)
        # and a client that went on after its 200 is still caught
        session.get(server.url_for("/thing"), timeout=5)
        with pytest.raises(MockAssertionError, match=r"1 request\(s\) matching path='/thing' came after "
                                                     r"the first 200 \(#4\)"):
            assert_no_request_after(journal, status=200, path="/thing")


def test_json_log_lines_say_null_status_and_the_fault() -> None:
    stream = io.StringIO()
    with MockServer(SCENARIO, max_delay=0.3) as fresh:
        fresh.exchange_hooks.append(JsonLog(stream))
        for path in ("/reset", "/truncate"):
            raw_exchange(fresh.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        fresh.journal.wait_for(2, timeout=2)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted((r["path"], r["status"], r["fault"], r["outcome"]) for r in records) == [
        ("/reset", None, "reset", "fault"), ("/truncate", 503, "truncate", "fault")]


def test_a_delayed_fault_has_no_status_while_pending_and_a_deadline_504_is_no_fault() -> None:
    scenario = {"name": "late", "rules": [
        {"name": "reset", "match": {"path": "/late"}, "fault": "reset",
         "respond": {"delay": "300ms", "json": {"ok": True}}}]}
    with MockServer(scenario) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        try:
            sock.sendall(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
            pending = server.journal.wait_for(1, timeout=2)[0]
            assert (pending.outcome, pending.status, pending.fault) == ("pending", None, "reset")
            with pytest.raises(ConnectionResetError):
                sock.recv(100)
        finally:
            sock.close()
        assert [(e.outcome, e.status, e.fault) for e in server.journal.entries()] == [
            ("fault", None, "reset")]
        server.reset()
        data, end = raw_exchange(server.port, b"GET /late?Timeout=50ms HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 504 ") and end == "FIN"  # the fault never happened
        assert [(e.outcome, e.status, e.fault) for e in server.journal.entries()] == [
            ("timed_out", 504, None)]
