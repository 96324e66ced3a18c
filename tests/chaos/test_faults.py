"""Every connection fault, seen on the wire and by real clients, each distinct as a real one is."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest
import requests

from mockserver import MockServer
from tests.conftest import raw_exchange

BODY = {"items": list(range(40))}


def rule(path: str, fault: Any, **extra: Any) -> dict[str, Any]:
    return {"match": {"path": path}, "fault": fault, "respond": {"json": BODY, **extra}}


SCENARIO = {
    "name": "faults",
    "seed": 11,
    "rules": [
        rule("/reset", "reset"),
        rule("/close", "close"),
        rule("/hang", "hang"),
        rule("/drop", {"type": "drop", "after": "300ms"}),
        rule("/truncate", {"type": "truncate", "bytes": 10}),
        rule("/chunk", "malformed_chunk"),
        rule("/garbage", {"type": "garbage", "bytes": 64}),
        rule("/status", "malformed_status"),
        rule("/slowhead", {"type": "slow_headers", "delay": "200ms", "interval": "50ms", "chunk_size": 40}),
        rule("/drip", {"type": "drip", "chunks": 4, "over": "600ms"}),
        rule("/keepalive", {"type": "keepalive_drop", "requests": 2}),
        {"match": {"path": "/ok"}, "respond": {"body": "fine"}},
    ],
}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO, max_delay=1.0) as s:
        yield s


def get(server: MockServer, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()


def test_reset_is_a_real_rst(server: MockServer) -> None:
    data, end = raw_exchange(server.port, get(server, "/reset"))
    assert (data, end) == (b"", "RST")
    with pytest.raises(requests.exceptions.ConnectionError, match="Connection reset by peer"):
        requests.get(server.url_for("/reset"), timeout=5)


def test_close_is_a_fin_without_a_response(server: MockServer) -> None:
    assert raw_exchange(server.port, get(server, "/close")) == (b"", "FIN")
    with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected without sending a response"):
        httpx.get(server.url_for("/close"), timeout=5)


def test_hang_never_answers_until_the_server_cap(server: MockServer) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(server.url_for("/hang"), timeout=httpx.Timeout(5, read=0.3))
    started = time.monotonic()
    data, end = raw_exchange(server.port, get(server, "/hang"), timeout=5)
    assert (data, end) == (b"", "FIN")  # the server-wide cap (max_delay=1s) ends it cleanly
    assert 0.9 <= time.monotonic() - started < 4


def test_drop_closes_after_a_delay(server: MockServer) -> None:
    started = time.monotonic()
    assert raw_exchange(server.port, get(server, "/drop")) == (b"", "FIN")
    assert time.monotonic() - started >= 0.28


async def test_truncate_promises_more_than_it_sends(server: MockServer) -> None:
    data, end = raw_exchange(server.port, get(server, "/truncate"))
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length"))
                 .split(b":")[1])
    assert (len(body), end) == (10, "FIN") and length > 10
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session, \
            session.get(server.url_for("/truncate")) as resp:
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


async def test_malformed_chunk(server: MockServer) -> None:
    data, _ = raw_exchange(server.port, get(server, "/chunk"))
    assert b"Transfer-Encoding: chunked" in data and b"ZZZ-not-hex" in data
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        # the client's message differs between aiohttp's C and pure-Python parsers: the bytes are
        # checked above, the client only has to fail on them
        with pytest.raises(aiohttp.ClientResponseError):
            await session.get(server.url_for("/chunk"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(server.url_for("/chunk"), timeout=5)


def test_garbage_is_seeded(server: MockServer) -> None:
    first, end = raw_exchange(server.port, get(server, "/garbage"))
    assert len(first) == 64 and end == "FIN"
    second, _ = raw_exchange(server.port, get(server, "/garbage"))
    assert second != first  # the next ordinal draws new bytes
    with MockServer(SCENARIO) as again:  # same seed, same ordinal: the same bytes
        assert raw_exchange(again.port, get(again, "/garbage"))[0] == first
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url_for("/garbage"), timeout=5)


async def test_malformed_status_line(server: MockServer) -> None:
    data, _ = raw_exchange(server.port, get(server, "/status"))
    assert data.startswith(b"HTTP/1.1 200x OK\r\n")
    with pytest.raises(requests.exceptions.ConnectionError, match="BadStatusLine"):
        requests.get(server.url_for("/status"), timeout=5)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        with pytest.raises(aiohttp.ClientResponseError, match=r"Invalid status code|Bad status line"):
            await session.get(server.url_for("/status"))


def _arrivals(port: int, path: str) -> list[tuple[float, int]]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    started = time.monotonic()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    out = []
    while chunk := sock.recv(65536):
        out.append((time.monotonic() - started, len(chunk)))
    sock.close()
    return out


def test_slow_headers_trickle_the_status_line(server: MockServer) -> None:
    arrivals = _arrivals(server.port, "/slowhead")
    assert arrivals[0][0] >= 0.18  # nothing before the delay
    assert len(arrivals) >= 4 and arrivals[0][1] == 40  # then 40-byte pieces
    assert requests.get(server.url_for("/slowhead"), timeout=5).json() == BODY


async def test_drip_sends_the_body_in_pieces(server: MockServer) -> None:
    arrivals = _arrivals(server.port, "/drip")
    assert len(arrivals) >= 4 and arrivals[-1][0] >= 0.4
    timeout = aiohttp.ClientTimeout(total=5, sock_read=0.05)
    async with aiohttp.ClientSession(timeout=timeout) as session, \
            session.get(server.url_for("/drip")) as resp:
        with pytest.raises(aiohttp.SocketTimeoutError):
            await resp.read()
    assert requests.get(server.url_for("/drip"), timeout=5).json() == BODY  # framing is valid


def test_keepalive_drop_closes_the_connection_after_n_requests(server: MockServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=3)
    try:
        answers = []
        for _ in range(2):
            sock.sendall(get(server, "/keepalive"))
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"}"):
                data += sock.recv(65536)
            answers.append(data.split(b"\r\n")[0])
        assert answers == [b"HTTP/1.1 200 OK"] * 2
        assert b"Connection: close" not in data  # silent, as an idle-timeout race is
        assert sock.recv(65536) == b""  # closed after the second request
    finally:
        sock.close()


def test_fault_is_journaled(server: MockServer) -> None:
    server.reset()
    raw_exchange(server.port, get(server, "/reset"))
    entry = server.journal.entries()[-1]
    assert (entry.rule, entry.outcome, entry.decisions) == ("faults/* /reset", "fault", ("fault: reset",))
