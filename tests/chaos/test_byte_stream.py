"""Byte-stream faults (Toxiproxy's vocabulary) on a raw socket: the bytes, when they arrive, and
how the connection ends; the same seed gives the same write plan, journaled in the decisions.

Timing checks are lower bounds (a fault never delivers early); a loaded box only makes things later.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockserver import MockServer

BODY4K = "b" * 4096
SCENARIO = {
    "name": "byte-stream",
    "rules": [
        {"name": "bandwidth", "match": {"path": "/bandwidth"}, "respond": {"body": BODY4K},
         "fault": {"type": "bandwidth", "rate": 4000}},
        {"name": "latency", "match": {"path": "/latency"}, "respond": {"body": "l" * 300},
         "fault": {"type": "latency", "delay": "100ms", "jitter": "50ms", "chunk_size": 100}},
        {"name": "slicer", "match": {"path": "/slicer"}, "respond": {"status": 201, "body": "s" * 200},
         "fault": {"type": "slicer", "chunk_size": 20, "variation": 10, "interval": "20ms"}},
        {"name": "limit-head", "match": {"path": "/limit-head"}, "respond": {"body": "0123456789"},
         "fault": {"type": "limit_data", "bytes": 10}},
        {"name": "limit-body", "match": {"path": "/limit-body"}, "respond": {"body": "0123456789"},
         "fault": {"type": "limit_data", "bytes": 100000}},
        {"name": "slow-close", "match": {"path": "/slow-close"}, "respond": {"body": "done"},
         "fault": {"type": "slow_close", "delay": "600ms"}},
        {"name": "timeout", "match": {"path": "/timeout"}, "respond": {"body": "never"},
         "fault": {"type": "timeout", "after": "500ms"}},
        {"name": "race", "match": {"path": "/race"}, "respond": {"body": "first"},
         "fault": "keepalive_race"},
    ],
}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO, seed=7) as s:
        yield s


def timed_get(port: int, path: str, timeout: float = 10.0) -> tuple[list[tuple[float, bytes]], float, str]:
    """([(seconds since the request was sent, bytes of one recv)], when it ended, how it ended)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    reads: list[tuple[float, bytes]] = []
    try:
        started = time.monotonic()
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return reads, time.monotonic() - started, "RST"
            if not chunk:
                return reads, time.monotonic() - started, "FIN"
            reads.append((time.monotonic() - started, chunk))
    finally:
        sock.close()


def joined(reads: list[tuple[float, bytes]]) -> bytes:
    return b"".join(chunk for _, chunk in reads)


def decision(server: MockServer, path: str, kind: str) -> str:
    entry = server.journal.wait_for(1, timeout=5, path=path)[-1]
    assert entry.fault == kind
    return next(d for d in entry.decisions if d.startswith(f"{kind}: "))


def test_bandwidth_paces_the_whole_answer(server: MockServer) -> None:
    reads, ended, end = timed_get(server.port, "/bandwidth")
    data = joined(reads)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: 4096" in head and body == BODY4K.encode()
    assert end == "FIN"
    # 4 KB and its head at 4000 B/s: the last byte is due at len/rate, never before
    assert ended >= len(data) / 4000 * 0.95
    # and nothing runs ahead of the rate: by time t at most rate * t + one piece (400 B)
    received = 0
    for at, chunk in reads:
        received += len(chunk)
        assert received <= 4000 * at + 400, (at, received)
    assert decision(server, "/bandwidth", "bandwidth") == (
        f"bandwidth: {len(data)} bytes in {-(-len(data) // 400)} writes over {len(data) / 4000:.3g}s")


def test_latency_delays_each_chunk_by_the_seeded_pauses(server: MockServer) -> None:
    reads, ended, end = timed_get(server.port, "/latency")
    data = joined(reads)
    assert data.endswith(b"\r\n\r\n" + b"l" * 300) and end == "FIN"
    noted = decision(server, "/latency", "latency")
    chunks, pauses = noted.removeprefix("latency: ").split(" chunks, pauses ")
    assert int(chunks) == -(-len(data) // 100)
    planned = [int(ms) / 1000 for ms in pauses.removesuffix(" ms").split(",")]
    assert all(0.05 - 0.001 <= p <= 0.15 + 0.001 for p in planned) and len(set(planned)) > 1  # jittered
    assert reads[0][0] >= planned[0] * 0.95  # the first byte waits the first pause
    assert ended >= sum(planned) * 0.95


def test_slicer_cuts_the_answer_into_seeded_writes(server: MockServer) -> None:
    reads, ended, end = timed_get(server.port, "/slicer")
    data = joined(reads)
    assert data.startswith(b"HTTP/1.1 201 Created\r\n") and data.endswith(b"\r\n\r\n" + b"s" * 200)
    assert end == "FIN"
    noted = decision(server, "/slicer", "slicer")
    sizes = [int(n) for n in noted.split(" writes of ")[1].split(" bytes")[0].split(",")]
    assert sum(sizes) == len(data) and all(10 <= n <= 30 for n in sizes[:-1]) and 1 <= sizes[-1] <= 30
    assert len(set(sizes[:-1])) > 1  # varied, seeded: not one size cut at the end
    # interval between writes: the last one is due (writes - 1) * 20 ms after the first
    assert ended >= (len(sizes) - 1) * 0.02 * 0.95
    # the client sees many reads, never more bytes in one than writes coalesced by a late reader
    assert len(reads) > 1


def test_limit_data_counts_the_head(server: MockServer) -> None:
    reads, _, end = timed_get(server.port, "/limit-head")
    assert joined(reads) == b"HTTP/1.1 2" and end == "FIN"
    assert decision(server, "/limit-head", "limit_data").startswith("limit_data: 10 of ")


def test_limit_data_larger_than_the_answer_sends_it_whole(server: MockServer) -> None:
    reads, _, end = timed_get(server.port, "/limit-body")
    assert joined(reads).endswith(b"\r\n\r\n0123456789") and end == "FIN"


def test_slow_close_holds_the_fin_back(server: MockServer) -> None:
    reads, ended, end = timed_get(server.port, "/slow-close")
    data = joined(reads)
    assert data.endswith(b"Connection: close\r\n\r\ndone") or data.endswith(b"\r\n\r\ndone")
    assert b"Connection: close" in data and end == "FIN"
    assert ended >= 0.6 * 0.95  # the FIN waited its delay
    assert ended - reads[-1][0] >= 0.3  # well after the answer was complete


def test_timeout_sends_nothing_then_fin(server: MockServer) -> None:
    reads, ended, end = timed_get(server.port, "/timeout")
    assert reads == [] and end == "FIN" and ended >= 0.5 * 0.95
    entry = server.journal.wait_for(1, timeout=5, path="/timeout")[-1]
    assert entry.fault == "timeout" and entry.status is None


def test_keepalive_race_closes_the_reused_connection_on_arrival(server: MockServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        sock.sendall(b"GET /race HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b"first"):
            chunk = sock.recv(65536)
            assert chunk, first
            first += chunk
        assert first.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" not in first
        before = len(server.journal.entries())
        sock.sendall(b"GET /race HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536) == b""  # FIN, not one byte of an answer
    finally:
        sock.close()
    time.sleep(0.1)
    assert len(server.journal.entries()) == before  # the reused connection's request was never read


def test_one_seed_gives_one_write_plan() -> None:
    """Two servers with one seed plan the same writes; another seed plans other ones."""
    plans = []
    for seed in (11, 11, 12):
        with MockServer(SCENARIO, seed=seed) as s:
            for path in ("/slicer", "/latency"):
                timed_get(s.port, path)
            plans.append((decision(s, "/slicer", "slicer"), decision(s, "/latency", "latency")))
    assert plans[0] == plans[1]
    assert plans[0][0] != plans[2][0] and plans[0][1] != plans[2][1]


UPSTREAM = {
    "name": "upstream",
    "rules": [
        {"name": "upload", "match": {"method": "POST", "path": "/upload"}, "respond": {"body": "got it"},
         "fault": {"type": "bandwidth", "upstream": 2000}},
        {"name": "plain", "match": {"method": "POST", "path": "/plain"}, "respond": {"body": "got it"}},
    ],
}


def post_timed(port: int, path: str, body: bytes) -> tuple[float, bytes]:
    """Seconds from sending a POST (head and body at once) to its whole answer, and the answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        started = time.monotonic()
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                     "Connection: close\r\n\r\n".encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return time.monotonic() - started, data
    finally:
        sock.close()


def test_bandwidth_upstream_reads_the_request_body_at_its_rate() -> None:
    with MockServer(UPSTREAM) as server:
        took, data = post_timed(server.port, "/upload", b"u" * 2000)
        assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\ngot it")
        assert took >= 2000 / 2000 * 0.95  # the last byte is read at len/rate, never before
        entry = server.journal.wait_for(1, timeout=5, path="/upload")[-1]
        assert entry.body == b"u" * 2000 and entry.fault == "bandwidth"
        # a rule without the fault reads at once: the bound above is the fault's, not the box's
        took, data = post_timed(server.port, "/plain", b"u" * 2000)
        assert took < 0.9 and data.endswith(b"got it")


def test_bandwidth_needs_a_direction() -> None:
    from mockserver.errors import ScenarioError

    with pytest.raises(ScenarioError) as caught:
        MockServer({"name": "b", "rules": [{"fault": {"type": "bandwidth"}}]})
    assert "expected rate (the answer's bytes per second), upstream (the request body's), or both" \
        in str(caught.value)


@pytest.mark.parametrize(("fault", "expected"), [
    ("limit_data", "expected bytes: how many bytes of the answer, head included, before FIN"),
    ("latency", "expected delay: the wait before each chunk"),
    ("slow_close", "expected delay: how long the FIN waits after the answer"),
])
def test_a_fault_without_its_field_is_refused_where_it_is(tmp_path: Path, fault: str, expected: str) -> None:
    from mockserver.errors import ScenarioError

    path = tmp_path / "f.yaml"
    path.write_text(f"name: f\nrules:\n  - fault: {{type: {fault}}}\n")
    with pytest.raises(ScenarioError) as caught:
        MockServer([path])
    assert [str(p) for p in caught.value.problems] == [f"{path}:3:12: rules[0].fault: found null; {expected}"]
