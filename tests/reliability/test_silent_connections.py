"""Connections that never send a byte, or go idle, are closed after a bounded time: a handful of
silent sockets must not hold every slot of --max-connections and lock real clients out."""

from __future__ import annotations

import socket
import time

import requests

from mockserver import MockServer
from tests.conftest import raw_exchange
from tests.control.conftest import serve

SCENARIO = {"name": "silent", "rules": [{"match": {"path": "/ok"}, "respond": {"body": "ok"}}]}


def wait_for_end(sock: socket.socket, limit: float) -> tuple[bytes, str, float]:
    """Read until the server closes (or *limit* seconds pass); what came, how it ended, when."""
    started = time.monotonic()
    sock.settimeout(limit)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
        end = "FIN"
    except ConnectionResetError:
        end = "RST"
    except TimeoutError:
        end = "open"
    return received, end, time.monotonic() - started


def test_silent_sockets_are_closed_in_time_and_a_real_client_is_then_served() -> None:
    with MockServer(SCENARIO, max_connections=3, header_timeout=0.6, keepalive_timeout=30) as server:
        opened = time.monotonic()
        silent = [socket.create_connection(("127.0.0.1", server.port), timeout=3) for _ in range(3)]
        try:
            time.sleep(0.1)
            data, _ = raw_exchange(server.port, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            assert data.startswith(b"HTTP/1.1 503 ServiceUnavailable\r\n")  # every slot is held
            for sock in silent:
                received, end, _ = wait_for_end(sock, 5)
                # nothing was asked, so nothing is answered: the connection just ends
                assert (received, end) == (b"", "FIN")
            assert 0.5 <= time.monotonic() - opened < 3  # header_timeout from the open, not an hour
        finally:
            for sock in silent:
                sock.close()
        assert requests.get(server.url_for("/ok"), timeout=5).text == "ok"


def test_the_header_timeout_counts_from_the_open_not_from_the_first_byte() -> None:
    with MockServer(SCENARIO, header_timeout=1.2, keepalive_timeout=30) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=3)
        try:
            opened = time.monotonic()
            time.sleep(0.8)
            sock.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n")  # the head starts late, never ends
            received, end, _ = wait_for_end(sock, 5)
            took = time.monotonic() - opened
        finally:
            sock.close()
        assert received.startswith(b"HTTP/1.1 408 Request Time-out\r\n") and end == "FIN"
        assert 1.1 <= took < 1.8  # 1.2 s after the open; from the first byte it would be 2.0 s


def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout() -> None:
    with MockServer(SCENARIO, header_timeout=30, keepalive_timeout=0.6) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=3)
        try:
            sock.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
            received, end, took = wait_for_end(sock, 5)
        finally:
            sock.close()
        assert (received, end) == (b"", "FIN")
        assert 0.5 <= took < 2.5


def test_the_timeouts_are_set_from_the_environment() -> None:
    env = {"MOCKSERVER_KEEPALIVE_TIMEOUT": "0.5", "MOCKSERVER_HEADER_TIMEOUT": "0.5"}
    with serve(env=env) as served:
        port = int(served.url.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=3)
        try:
            received, end, took = wait_for_end(sock, 10)
        finally:
            sock.close()
        assert (received, end) == (b"", "FIN") and took < 3
        sock = socket.create_connection(("127.0.0.1", port), timeout=3)
        try:
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
            received, end, took = wait_for_end(sock, 10)
        finally:
            sock.close()
        assert (received, end) == (b"", "FIN") and took < 3
        assert served.stop() == 0
