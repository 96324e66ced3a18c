"""The shipped chaos examples (scenarios/chaos/) do what their comments say."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import aiohttp
import pytest
import requests

from mockserver import MockServer
from mockserver.scenario import BUILTIN_DIR
from tests.integration.test_builtin_scenarios import exercises

CHAOS = BUILTIN_DIR / "chaos"


@exercises("chaos/flaky.yaml")
def test_flaky_mix_is_seeded() -> None:
    def run() -> list[str]:
        with MockServer([CHAOS / "flaky.yaml"], time_scale=0.001) as server:
            s = requests.Session()
            out = []
            for _ in range(200):
                try:
                    out.append(str(s.get(server.url_for("/orders/1"), timeout=5).status_code))
                except requests.ConnectionError:
                    out.append("reset")
                    s = requests.Session()
            return out

    first = run()
    assert first == run()
    assert {"200", "503", "reset"} <= set(first)


@exercises("chaos/outage.yaml")
def test_outage_timeline() -> None:
    with MockServer([CHAOS / "outage.yaml"]) as server:
        url = server.url_for("/api/status")
        assert requests.get(url).status_code == 200
        server.clock.advance(40)
        r = requests.get(url)
        assert (r.status_code, r.headers["Retry-After"]) == (503, "20")
        server.clock.advance(30)
        assert {requests.get(url).status_code for _ in range(30)} == {200, 500}
        server.clock.advance(30)
        assert requests.get(url).status_code == 200


@exercises("chaos/throttled.yaml")
def test_throttled_per_client() -> None:
    with MockServer([CHAOS / "throttled.yaml"]) as server:
        s = requests.Session()
        answers = [s.get(server.url_for("/api/search")) for _ in range(12)]
        assert [r.status_code for r in answers].count(200) >= 10
        refused = next(r for r in answers if r.status_code == 429)
        assert refused.headers["Retry-After"] == "1" and "RateLimit" in refused.headers


@exercises("chaos/slow-network.yaml")
async def test_slow_network() -> None:
    async with MockServer([CHAOS / "slow-network.yaml"], time_scale=0.1) as server:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(server.url_for("/api/latency")) as resp:
                assert await resp.json() == {"ok": True}
            async with session.get(server.url_for("/api/download")) as resp:
                assert (await resp.read()).startswith(b"0123456789")
            async with session.get(server.url_for("/api/slow-headers")) as resp:
                assert await resp.json() == {"ok": True}
            async with session.get(server.url_for("/api/truncated")) as resp:
                with pytest.raises(aiohttp.ClientPayloadError):
                    await resp.read()
        port = server.port

        def keepalive() -> list[bytes]:
            sock = socket.create_connection(("127.0.0.1", port), timeout=3)
            seen = []
            for _ in range(4):
                try:
                    sock.sendall(b"GET /api/keepalive HTTP/1.1\r\nHost: x\r\n\r\n")
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                seen.append(data.split(b"\r\n")[0])
            sock.close()
            return seen

        assert await asyncio.to_thread(keepalive) == [b"HTTP/1.1 200 OK"] * 3 + [b""]


@exercises("chaos/overloaded.yaml")
async def test_overloaded_caps_in_flight_requests() -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with MockServer([CHAOS / "overloaded.yaml"]) as server, \
            aiohttp.ClientSession(connector=connector) as session:

        async def one() -> int:
            async with session.get(server.url_for("/api/report")) as resp:
                await resp.read()
                return resp.status

        results = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(20))), 20)
    assert Counter(results) == {200: 4, 503: 16}


@exercises("chaos/byte-stream.yaml")
def test_byte_stream_example() -> None:
    """Each rule's fault on the wire, at a tenth of the time; one seed, one byte stream."""
    from tests.chaos.test_byte_stream import joined, timed_get

    def run() -> list[str]:
        with MockServer([CHAOS / "byte-stream.yaml"], time_scale=0.1) as server:
            reads, ended, _ = timed_get(server.port, "/api/export")
            data = joined(reads)
            assert data.endswith(b"\r\n\r\n0123456789abcdef") and ended >= len(data) / 2000 * 0.1 * 0.95
            for path in ("/api/jittery", "/api/sliced"):
                reads, _, end = timed_get(server.port, path)
                assert joined(reads).startswith(b"HTTP/1.1 200 OK\r\n") and end == "FIN"
            cut, _, end = timed_get(server.port, "/api/cut")
            assert len(joined(cut)) == 100 and end == "FIN"
            reads, ended, end = timed_get(server.port, "/api/slow-close")
            assert joined(reads).endswith(b'{"ok": true}') and ended >= 0.1 * 0.95 and end == "FIN"
            reads, ended, end = timed_get(server.port, "/api/silent")
            assert reads == [] and end == "FIN" and ended >= 0.2 * 0.95
            with requests.Session() as session:
                assert session.get(server.url_for("/api/pooled"), timeout=5).json() == {"ok": True}
                with pytest.raises(requests.ConnectionError, match="RemoteDisconnected"):
                    session.get(server.url_for("/api/pooled"), timeout=5)
            entries = server.journal.entries()
            assert [e.fault for e in entries] == ["bandwidth", "latency", "slicer", "limit_data",
                                                  "slow_close", "timeout", "keepalive_race"]
            return [d for e in entries for d in e.decisions if d.startswith(("latency:", "slicer:"))]

    first = run()
    assert len(first) == 2 and first == run()
