"""A burst of connections while the server is busy waits in the listen backlog instead of being
dropped: the kernel completes the handshakes, and every one is answered once the server gets to it.

The server process is stopped (SIGSTOP) while 300 clients connect, so nothing is accepted
meanwhile; with aiohttp's default backlog of 128 the surplus SYNs would be dropped and their
clients would retry after a second (docs/performance.md, case 3's listen overflows).
"""

from __future__ import annotations

import select
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.control.conftest import serve

BURST = 300
SCENARIO = "name: burst\nrules:\n  - match: {path: /ping}\n    respond: {body: pong}\n"


def _connect_all(port: int, count: int, wait: float) -> tuple[list[socket.socket], int]:
    """Start *count* connections at once; how many completed their handshake within *wait* s."""
    socks = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        socks.append(sock)
    poller = select.poll()  # not select(): descriptors above 1024 are fine
    for sock in socks:
        poller.register(sock, select.POLLOUT)
    writable: set[int] = set()
    deadline = time.monotonic() + wait
    while len(writable) < count and (left := deadline - time.monotonic()) > 0:
        for fd, _ in poller.poll(left * 1000):  # returns as soon as any is ready: collect them all
            writable.add(fd)
            poller.unregister(fd)
    done = sum(1 for s in socks if s.fileno() in writable
               and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
    return socks, done


@pytest.mark.parametrize(("args", "held"), [((), True), (("--backlog", "16"), False)],
                         ids=["default backlog", "backlog 16"])
def test_a_burst_of_connections_waits_for_a_busy_server(tmp_path: Path, args: tuple[str, ...],
                                                         held: bool) -> None:
    scenario = tmp_path / "burst.yaml"
    scenario.write_text(SCENARIO)
    with serve("--quiet", *args, str(scenario)) as served:
        port = int(served.url.rsplit(":", 1)[1])
        served.proc.send_signal(signal.SIGSTOP)
        try:
            socks, done = _connect_all(port, BURST, 0.8)
        finally:
            served.proc.send_signal(signal.SIGCONT)
        try:
            if not held:  # the knob matters: a small backlog drops the surplus
                assert done < BURST // 3, done
                return
            assert done == BURST
            for sock in socks:
                sock.setblocking(True)
                sock.settimeout(10)
                sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answered = 0
            for sock in socks:
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
                answered += data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"pong")
            assert answered == BURST
        finally:
            for sock in socks:
                sock.close()
