"""The shipped stream example (scenarios/chaos/streams.yaml) met by real clients over 127.0.0.1:
httpx-sse, aiohttp and requests (stream=True), and raw sockets where the bytes matter."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
import requests
from httpx_sse import connect_sse

from mockserver import MockServer
from mockserver.scenario import BUILTIN_DIR
from tests.integration.test_builtin_scenarios import exercises

STREAMS = BUILTIN_DIR / "chaos" / "streams.yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer([STREAMS]) as s:
        yield s


def sse(server: MockServer, path: str, **headers: str) -> list[tuple[str, str, str]]:
    """(id, event, data) of each event, as httpx-sse parses them."""
    with httpx.Client(timeout=5) as client, connect_sse(client, "GET", server.url + path,
                                                        headers=headers) as source:
        assert source.response.headers["content-type"] == "text/event-stream"
        return [(e.id, e.event, e.data) for e in source.iter_sse()]


def raw_get(server: MockServer, path: str, timeout: float = 5.0) -> tuple[list[tuple[float, bytes]], str]:
    """Each recv() with its arrival time since the request went out, and how the connection ended."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    pieces: list[tuple[float, bytes]] = []
    end = "open"
    try:
        start = time.monotonic()
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        while time.monotonic() - start < timeout:
            chunk = sock.recv(65536)
            if not chunk:
                end = "FIN"
                break
            pieces.append((time.monotonic() - start, chunk))
    except ConnectionResetError:
        end = "RST"
    finally:
        sock.close()
    return pieces, end


@exercises("chaos/streams.yaml")
def test_sse_events_with_httpx_sse(server: MockServer) -> None:
    events = sse(server, "/events/cpu")
    # the retry field alone is an event to httpx-sse, with no data
    assert events == [
        ("", "message", ""), ("1", "tick", '{"topic": "cpu", "n": 1}'),
        ("2", "tick", '{"topic": "cpu", "n": 2}'),
        ("3", "tick", '{"topic": "cpu", "n": 3}'), ("4", "done", "bye")]
    with httpx.Client(timeout=5) as client, connect_sse(client, "GET", server.url + "/events/cpu") as source:
        assert next(source.iter_sse()).retry == 1000


def test_last_event_id_resumes(server: MockServer) -> None:
    assert [e[0] for e in sse(server, "/events/cpu", **{"Last-Event-ID": "2"})] == ["3", "4"]
    entry = server.journal.select(path="/events/cpu")[-1]
    assert "stream: Last-Event-ID '2': resumed after it, 2 to send" in entry.decisions
    assert entry.decisions[-1] == "stream: sent 2 of 2 events, ended clean"


def test_event_framing_and_chunk_per_event_on_the_wire(server: MockServer) -> None:
    """Each event is its own chunk (chunk boundaries are event boundaries), the last one no
    sooner than the planned waits allow."""
    pieces, end = raw_get(server, "/events/disk")
    assert end == "FIN"
    wire = b"".join(p for _, p in pieces)
    head, _, body = wire.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"Cache-Control: no-cache" in head
    assert b"Content-Type: text/event-stream" in head
    first = b'id: 1\nevent: tick\ndata: {"topic": "disk", "n": 1}\n\n'
    assert f"{len(first):x}\r\n".encode() + first + b"\r\n" in body
    assert body.startswith(b"16\r\n: ticker\nretry: 1000\n\n\r\n")
    assert body.endswith(b"0\r\n\r\n")
    # the last event is not sent before its due time: the planned waits (the journal's) add up
    waits = next(d for d in server.journal.select(path="/events/disk")[-1].decisions if "waits" in d)
    planned = sum(float(w) for w in waits.removeprefix("stream: waits ").removesuffix(" s").split(","))
    assert planned >= 4 * 0.020
    last = next(t for t, p in pieces if b"id: 4" in p)
    assert last >= planned


def test_json_lines_with_httpx_and_requests(server: MockServer) -> None:
    with httpx.stream("POST", server.url + "/v1/completions", json={"model": "m1"}, timeout=5) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.iter_lines()]
    assert lines == [{"token": "Hello", "index": 0}, {"token": " world", "index": 1},
                     {"done": True, "model": "m1"}]
    with requests.post(server.url + "/v1/completions", json={}, stream=True, timeout=5) as r:
        assert [json.loads(line) for line in r.iter_lines()][-1] == {"done": True, "model": "mock"}


def test_stop_clean_ends_early_and_is_journaled(server: MockServer) -> None:
    assert [e[0] for e in sse(server, "/faults/stop")] == ["1", "2"]
    entry = server.journal.select(path="/faults/stop")[-1]
    assert entry.fault == "stream_stop" and entry.outcome == "fault"
    assert entry.decisions[-2:] == ("stream fault: stop after 2 (clean)",
                                    "stream: sent 2 of 2 events, ended clean")


def test_stop_abrupt_in_each_client(server: MockServer) -> None:
    got: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"), \
            httpx.Client(timeout=5) as client, \
            connect_sse(client, "GET", server.url + "/faults/abrupt") as source:
        got.extend(e.id for e in source.iter_sse())
    assert got == ["1", "2"]
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="Response ended prematurely"), \
            requests.get(server.url + "/faults/abrupt", stream=True, timeout=5) as r:
        list(r.iter_lines())
    with pytest.raises(aiohttp.ClientPayloadError, match="Response payload is not completed"):
        asyncio.run(_aiohttp_lines(server.url + "/faults/abrupt"))
    pieces, end = raw_get(server, "/faults/abrupt")
    assert end == "FIN" and not b"".join(p for _, p in pieces).endswith(b"0\r\n\r\n")
    assert server.journal.select(path="/faults/abrupt")[-1].decisions[-1] == \
        "stream: sent 2 of 2 events, ended abrupt"


def test_reset_mid_stream_in_each_client(server: MockServer) -> None:
    with pytest.raises(httpx.ReadError, match="Connection reset by peer"), \
            httpx.Client(timeout=5) as client, \
            connect_sse(client, "GET", server.url + "/faults/reset") as source:
        list(source.iter_sse())
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="Connection reset by peer"), \
            requests.get(server.url + "/faults/reset", stream=True, timeout=5) as r:
        list(r.iter_lines())
    with pytest.raises(aiohttp.ClientPayloadError):
        asyncio.run(_aiohttp_lines(server.url + "/faults/reset"))
    _, end = raw_get(server, "/faults/reset")
    assert end == "RST"  # the events before it may be dropped unread by the RST
    entry = server.journal.select(path="/faults/reset")[-1]
    assert entry.fault == "stream_reset" and entry.decisions[-1] == "stream: sent 2 of 2 events, ended reset"


def test_malformed_event_fails_the_clients_json(server: MockServer) -> None:
    events = sse(server, "/faults/malformed")
    assert [e[2] for e in events] == ['{"n": 1}', '{"n"', '{"n": 3}', '{"n": 4}']
    with pytest.raises(json.JSONDecodeError, match="Expecting ':' delimiter"):
        [json.loads(e[2]) for e in events]


def test_pause_longer_than_the_read_timeout(server: MockServer) -> None:
    got: list[str] = []
    with pytest.raises(httpx.ReadTimeout), httpx.Client(timeout=httpx.Timeout(5, read=0.5)) as client, \
            connect_sse(client, "GET", server.url + "/faults/pause") as source:
        got.extend(e.id for e in source.iter_sse())
    assert got == ["1"]
    with pytest.raises(requests.exceptions.ConnectionError, match="Read timed out"), \
            requests.get(server.url + "/faults/pause", stream=True, timeout=0.5) as r:
        list(r.iter_lines())
    with pytest.raises(aiohttp.SocketTimeoutError):
        asyncio.run(_aiohttp_lines(server.url + "/faults/pause", sock_read=0.5))
    pieces, end = raw_get(server, "/faults/pause")  # a longer timeout sees the whole stream, late
    assert end == "FIN" and pieces[-1][0] >= 2.0
    # flushed per event: the first event arrives on its own, long before the pause ends
    first = next((t, p) for t, p in pieces if b"id: 1" in p)
    assert first[0] < 1.5 and b"id: 2" not in first[1]


def test_duplicate_and_out_of_order_ids(server: MockServer) -> None:
    assert [e[0] for e in sse(server, "/faults/duplicate")] == ["1", "2", "2", "3", "4"]
    assert [e[0] for e in sse(server, "/faults/out-of-order")] == ["1", "3", "2", "4"]
    entry = server.journal.select(path="/faults/duplicate")[-1]
    assert entry.decisions[-1] == "stream: sent 5 of 5 events, ended clean"


def test_jitter_is_the_same_on_every_run() -> None:
    def waits() -> list[str]:
        with MockServer([STREAMS]) as s:
            sse(s, "/events/cpu")
            return [d for d in s.journal.select(path="/events/cpu")[-1].decisions]
    assert waits() == waits()


async def _aiohttp_lines(url: str, sock_read: float | None = None) -> list[bytes]:
    timeout = aiohttp.ClientTimeout(total=5, sock_read=sock_read)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        return [line async for line in response.content]


def test_websocket_abort_in_aiohttp(server: MockServer) -> None:
    async def run() -> list[aiohttp.WSMsgType]:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/ws") as ws:
            return [(await ws.receive(timeout=5)).type, (await ws.receive(timeout=5)).type]
    assert asyncio.run(run()) == [aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.CLOSED]
    entry = server.journal.select(path="/ws")[-1]
    assert entry.fault == "websocket_abort" and entry.outcome == "fault"
