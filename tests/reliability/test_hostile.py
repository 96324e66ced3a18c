"""Hostile HTTP over raw sockets: each case gets an error answer or a close, never kills the
server; other clients are served meanwhile, and no task or file descriptor leaks."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from mockserver import MockServer
from tests.conftest import raw_exchange

SCENARIO = {
    "name": "hostile",
    "rules": [
        {"match": {"path": "/ok"}, "respond": {"body": "ok"}},
        {"match": {"path": "/slow"}, "respond": {"delay": "2s", "body": "late"}},
        {"match": {"path": "/drip"}, "fault": {"type": "drip", "chunks": 20, "over": "2s"},
         "respond": {"body": "x" * 400}},
        {"match": {"method": "POST", "path": "/upload"}, "respond": {"status": 201}},
    ],
}

CASES: dict[str, tuple[bytes, tuple[bytes, ...]]] = {
    # name: (bytes sent, acceptable status lines; b"" means a close without an answer)
    "garbage": (bytes(range(256)) * 4,
                (b"HTTP/1.1 400 BadRequest", b"HTTP/1.1 501 Not Implemented", b"")),
    "tls-hello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
                  (b"HTTP/1.1 400 BadRequest",)),
    "long-request-line": (b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                          (b"HTTP/1.1 414 Request-URI Too Large",)),
    "long-header": (b"GET /ok HTTP/1.1\r\nHost: x\r\nX-A: " + b"b" * 100_000 + b"\r\n\r\n",
                    (b"HTTP/1.1 431 Request Header Fields Too Large",)),
    "many-headers": (b"GET /ok HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(5000))
                     + b"\r\n", (b"HTTP/1.1 431 Request Header Fields Too Large",)),
    "bad-chunked": (b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"ZZ\r\nab\r\n0\r\n\r\n", (b"HTTP/1.1 400 BadRequest",)),
    "cl-and-te": (b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", (b"HTTP/1.1 400 BadRequest",)),
    "short-body": (b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b",
                   (b"HTTP/1.1 408 Request Time-out",)),
    "slowloris": (b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: 1", (b"HTTP/1.1 408 Request Time-out",)),
    "null-bytes": (b"GET /ok\x00 HTTP/1.1\r\nHost: x\r\n\r\n", (b"HTTP/1.1 400 BadRequest",)),
}


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def tasks(server: MockServer) -> int:
    loop = server._loop
    assert loop is not None

    async def count() -> int:
        return len(asyncio.all_tasks())

    return asyncio.run_coroutine_threadsafe(count(), loop).result(5)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO, body_timeout=0.5, header_timeout=0.5, max_uri=8190) as s:
        yield s


@pytest.fixture
def background(server: MockServer) -> Iterator[list[int]]:
    """A well-behaved client that keeps being served while a hostile case runs. Per test, and
    gone (its connection closed) once the test ends: the leak checks below count the server's
    tasks, and one of its requests in flight would count as a leaked task."""
    statuses: list[int] = []
    stop = threading.Event()

    def run() -> None:
        with requests.Session() as s:
            while not stop.is_set() and len(statuses) < 10_000:
                statuses.append(s.get(server.url_for("/ok"), timeout=5).status_code)
                time.sleep(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield statuses
    stop.set()
    thread.join(10)
    assert statuses and set(statuses) == {200}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_gets_an_answer_or_a_close(server: MockServer, background: list[int],
                                                 name: str) -> None:
    sent, acceptable = CASES[name]
    deadline = time.monotonic() + 5
    while not background and time.monotonic() < deadline:
        time.sleep(0.01)
    served_before = len(background)
    data, end = raw_exchange(server.port, sent, timeout=5)
    line = data.split(b"\r\n")[0]
    assert line in acceptable, (line, end)
    assert end in ("FIN", "RST")
    assert requests.get(server.url_for("/ok"), timeout=5).text == "ok"  # still serving
    assert len(background) >= served_before


def test_pipelined_requests_are_answered_in_order(server: MockServer) -> None:
    data, _ = raw_exchange(server.port, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                                        b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                                        b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    lines = re.findall(rb"HTTP/1\.1 \d{3} [A-Za-z ]+", data)
    assert lines == [b"HTTP/1.1 200 OK", b"HTTP/1.1 404 NotFound", b"HTTP/1.1 200 OK"]


@pytest.mark.parametrize("path", ["/slow", "/drip"])
def test_client_leaving_a_pending_answer_leaks_nothing(server: MockServer, path: str) -> None:
    requests.get(server.url_for("/ok"), timeout=5)
    time.sleep(0.3)
    fds, running = fd_count(), tasks(server)
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=3)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        if path == "/drip":
            sock.recv(100)  # the answer has begun
        sock.close()  # and the client is gone
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (fd_count() > fds or tasks(server) > running):
        time.sleep(0.2)
    assert fd_count() <= fds
    assert tasks(server) <= running
    outcomes = {e.outcome for e in server.journal.entries() if e.path == path}
    assert outcomes <= {"answered", "client_gone", "fault"}


def test_no_descriptor_or_task_leaks_across_all_cases(server: MockServer) -> None:
    requests.get(server.url_for("/ok"), timeout=5)
    time.sleep(0.3)
    fds, running = fd_count(), tasks(server)
    for sent, _ in CASES.values():
        raw_exchange(server.port, sent, timeout=5)
    time.sleep(0.5)
    assert fd_count() <= fds
    assert tasks(server) <= running


def test_connections_beyond_the_limit_get_503() -> None:
    with MockServer(SCENARIO, max_connections=5) as limited:
        held = [socket.create_connection(("127.0.0.1", limited.port), timeout=3) for _ in range(5)]
        try:
            time.sleep(0.2)
            data, _ = raw_exchange(limited.port, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            assert data.startswith(b"HTTP/1.1 503 ServiceUnavailable\r\n") and b"Retry-After: 1" in data
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert requests.get(limited.url_for("/ok"), timeout=5).text == "ok"
