"""``drip`` on the wire: ``over`` is the time the whole body takes, ``rate`` is bytes per second.

Arrival times are read on a raw socket, measured from just before the request is sent, so the
server cannot look early because of the clock: a piece seen at t was sent at t or before. Each
case lists, from the declared numbers alone, how much of the body may have arrived by when; a
piece may be late by less than one piece's slot, never early.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from mockserver import MockServer
from tests.conftest import ROOT

BODY40 = b"0123456789" * 4
SCENARIO = {
    "name": "drip",
    "rules": [
        {"name": "four", "match": {"path": "/four"}, "respond": {"body": BODY40.decode()},
         "fault": {"type": "drip", "chunks": 4, "over": "400ms"}},
        {"name": "one", "match": {"path": "/one"}, "respond": {"body": "abcdefghij"},
         "fault": {"type": "drip", "chunks": 1, "over": "300ms"}},
        {"name": "rate", "match": {"path": "/rate"}, "respond": {"body": "x" * 25},
         "fault": {"type": "drip", "rate": 100}},
        {"name": "short", "match": {"path": "/short"}, "respond": {"body": "ab"},
         "fault": {"type": "drip", "chunks": 5, "over": "300ms"}},
    ],
}

# path -> (the slot a piece may be late by, [(seconds, bytes of the body due by then)])
DECLARED = {
    # 4 chunks over 400 ms: a quarter of the body every 100 ms, the whole of it at 400 ms
    "/four": (0.1, [(0.1, 10), (0.2, 20), (0.3, 30), (0.4, 40)]),
    # 1 chunk over 300 ms: nothing, then everything at 300 ms
    "/one": (0.3, [(0.3, 10)]),
    # 100 B/s in tenth-of-a-second pieces (10 B): 25 bytes take 250 ms
    "/rate": (0.1, [(0.1, 10), (0.2, 20), (0.25, 25)]),
    # 5 chunks over 300 ms of a 2-byte body: one byte a piece, still ending at 300 ms
    "/short": (0.15, [(0.15, 1), (0.3, 2)]),
}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO) as s:
        yield s


def body_arrivals(port: int, path: str) -> tuple[float, list[tuple[float, int]]]:
    """(when the headers were complete, [(seconds, body bytes received so far)]) for one GET."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        started = time.monotonic()
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data, headers_at, seen = b"", None, []
        while chunk := sock.recv(65536):
            now = time.monotonic() - started
            data += chunk
            if b"\r\n\r\n" not in data:
                continue
            head, _, body = data.partition(b"\r\n\r\n")
            if headers_at is None:
                headers_at = now
                assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            if body and (not seen or seen[-1][1] != len(body)):
                seen.append((now, len(body)))
    finally:
        sock.close()
    assert headers_at is not None
    return headers_at, seen


def check(arrivals: list[tuple[float, int]], slot: float, declared: list[tuple[float, int]]) -> None:
    total = declared[-1][1]
    assert arrivals[-1][1] == total
    for at, got in arrivals:  # never early: by time t, at most what is due by t
        due = max((n for when, n in declared if when <= at), default=0)
        assert got <= due, f"{got} bytes at {at:.3f}s; only {due} due by then ({declared})"
    for when, n in declared:  # never a whole slot late
        first = next(at for at, got in arrivals if got >= n)
        assert first < when + slot, f"{n} bytes due at {when}s came at {first:.3f}s"
    assert arrivals[-1][0] >= declared[-1][0]  # the whole body takes the declared time


@pytest.mark.parametrize("path", list(DECLARED))
def test_drip_keeps_the_declared_schedule(server: MockServer, path: str) -> None:
    slot, declared = DECLARED[path]
    headers_at, arrivals = body_arrivals(server.port, path)
    assert headers_at < declared[0][0]  # the status and headers go out at once
    check(arrivals, slot, declared)


def test_the_shipped_slow_network_download_takes_its_declared_2s() -> None:
    """chaos/slow-network.yaml drips a 37-byte body in 10 chunks over 2 s (run at half time:
    over 1 s, a piece every 100 ms)."""
    body = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
    declared = [(k * 0.1, len(body) * k // 10) for k in range(1, 11)]
    with MockServer([ROOT / "scenarios/chaos/slow-network.yaml"], time_scale=0.5) as server:
        _, arrivals = body_arrivals(server.port, "/api/download")
    check(arrivals, 0.1, declared)
