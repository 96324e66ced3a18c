"""Connection-level faults on extra ports: refused, accepted-then-silent, and black-holed connects,
as a raw socket and real clients meet them; a port already taken is a message, not a traceback."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
import requests

from mockserver import MockServer
from tests.conftest import ROOT

SCENARIO = {"name": "ports", "rules": [{"match": {"path": "/ok"}, "respond": {"body": "ok"}}]}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO, refuse_port=0, silent_port=0, blackhole_port=0) as s:
        yield s


def url(port: int | None) -> str:
    assert port
    return f"http://127.0.0.1:{port}/ok"


def test_the_main_port_still_answers(server: MockServer) -> None:
    ports = {server.port, server.fault_listeners.refuse_port, server.fault_listeners.silent_port,
             server.fault_listeners.blackhole_port}
    assert len(ports) == 4 and requests.get(url(server.port), timeout=5).text == "ok"


def test_refuse_port_gives_econnrefused(server: MockServer) -> None:
    port = server.fault_listeners.refuse_port
    assert port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    with pytest.raises(requests.ConnectionError, match="Connection refused"):
        requests.get(url(port), timeout=2)
    with pytest.raises(httpx.ConnectError, match="Connection refused"):
        httpx.get(url(port), timeout=2)

    async def get() -> None:
        async with aiohttp.ClientSession() as session:
            await session.get(url(port))
    with pytest.raises(aiohttp.ClientConnectorError):
        asyncio.run(get())


def test_silent_port_accepts_and_never_sends(server: MockServer) -> None:
    port = server.fault_listeners.silent_port
    assert port
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)  # the connect completes
    try:
        sock.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(0.5)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            sock.recv(1)
        assert time.monotonic() - started >= 0.45
    finally:
        sock.close()
    with pytest.raises(requests.ReadTimeout):
        requests.get(url(port), timeout=(2, 0.3))
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(url(port), timeout=httpx.Timeout(0.3, connect=2))


def test_blackhole_port_never_completes_a_connect(server: MockServer) -> None:
    port = server.fault_listeners.blackhole_port
    assert port
    with pytest.raises(TimeoutError):
        socket.create_connection(("127.0.0.1", port), timeout=0.3)
    with pytest.raises(requests.ConnectTimeout):
        requests.get(url(port), timeout=(0.3, 5))
    with pytest.raises(httpx.ConnectTimeout):
        httpx.get(url(port), timeout=httpx.Timeout(5, connect=0.3))

    async def get() -> None:
        timeout = aiohttp.ClientTimeout(total=5, sock_connect=0.3)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await session.get(url(port))
    with pytest.raises(aiohttp.ConnectionTimeoutError):
        asyncio.run(get())


def test_the_ports_are_released_on_close() -> None:
    with MockServer(SCENARIO, refuse_port=0, silent_port=0, blackhole_port=0) as s:
        ports = s.fault_listeners
        taken = [ports.refuse_port, ports.silent_port, ports.blackhole_port]
    for port in taken:
        assert port
        probe = socket.socket()
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
            probe.listen(1)  # would fail while a listener still held it
        finally:
            probe.close()


def test_a_taken_fault_port_is_a_message_naming_the_option() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        proc = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0",
                               "--silent-port", str(port)],
                              capture_output=True, text=True, cwd=ROOT, timeout=30, check=False)
    finally:
        holder.close()
    assert proc.returncode == 1
    assert proc.stderr == (f"mockserver: cannot listen on 127.0.0.1:{port} (--silent-port): "
                           "Address already in use\n")


def test_a_bad_fault_port_value_is_refused() -> None:
    proc = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--refuse-port", "70000"],
                          capture_output=True, text=True, cwd=ROOT, timeout=30, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "mockserver: --refuse-port: found '70000'; expected an integer from 0 to 65535 (0 picks a free port)")
