"""A client that sends the headers and part of a body, then disconnects, is a client that went
away: journaled as ``client_gone`` with no status, no traceback anywhere, not a strict-mode
failure; other clients are answered promptly meanwhile and memory stays bounded."""

from __future__ import annotations

import logging
import socket
import threading
import time
import tracemalloc

import pytest
import requests

from mockserver import MockServer
from mockserver.assertions import check_strict

SCENARIO = {
    "name": "uploads",
    "rules": [
        {"match": {"method": "POST", "path": "/upload"}, "respond": {"status": 201}},
        {"match": {"path": "/ok"}, "respond": {"body": "ok"}},
    ],
}


def half_a_post(port: int, sent: bytes = b"0123456789") -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n" + sent)
        time.sleep(0.05)  # the server is reading the body now
    finally:
        sock.close()


def wait_for(server: MockServer, count: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(server.journal.select(outcome="client_gone")) < count:
        time.sleep(0.05)


def test_a_client_leaving_mid_body_is_journaled_as_gone_without_a_traceback(
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    with MockServer(SCENARIO, body_timeout=10) as server:
        half_a_post(server.port)
        wait_for(server, 1)
        entries = server.journal.entries()
        assert [(e.method, e.path, e.status, e.outcome, e.rule) for e in entries] \
            == [("POST", "/upload", None, "client_gone", None)]
        assert entries[0].headers["Content-Length"] == "100000"
        check_strict(server.journal)  # strict mode: a client that left is not a failure of the test
        assert requests.post(server.url_for("/upload"), json={}, timeout=5).status_code == 201
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err + caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_other_clients_are_answered_promptly_while_many_leave_mid_body() -> None:
    with MockServer(SCENARIO, body_timeout=10) as server:
        slowest: list[float] = []
        stop = threading.Event()

        def client() -> None:
            s = requests.Session()
            while not stop.is_set():
                started = time.monotonic()
                assert s.get(server.url_for("/ok"), timeout=5).text == "ok"
                slowest.append(time.monotonic() - started)

        thread = threading.Thread(target=client, daemon=True)
        thread.start()
        tracemalloc.start()
        try:
            for _ in range(20):  # warm up: what a steady state holds is not a leak
                half_a_post(server.port, b"x" * 4000)
            wait_for(server, 20)
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(100):
                half_a_post(server.port, b"x" * 4000)
            wait_for(server, 120)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
            stop.set()
            thread.join(10)
        assert len(server.journal.select(outcome="client_gone")) == 120
        assert grown < 2_000_000  # the journal keeps no body of theirs; a few KB an entry at most
        assert slowest and max(slowest) < 1.0
        assert not server.journal.select(outcome="error")
