"""Every code of the CSS table on the wire: exact status line, required headers, body rules."""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Iterator

import pytest

from mockserver import MockServer
from mockserver.catalogue import CATALOGUE, CODES, NO_BODY, required_headers, status_codes_markdown
from mockserver.scenario import BUILTIN_DIR
from tests.conftest import ROOT, raw_exchange
from tests.integration.test_builtin_scenarios import exercises


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer([BUILTIN_DIR / "status.yaml"]) as s:
        yield s


def split(data: bytes) -> tuple[bytes, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, body


def test_the_catalogue_is_the_seed_table() -> None:
    """42 codes, phrases transcribed verbatim from ../shared/seed/status-codes.md."""
    import re

    seed = ROOT.parent / "shared" / "seed" / "status-codes.md"
    if not seed.exists():
        pytest.skip("the seed table is not beside this checkout")
    rows = re.findall(r"^\| (\d{3}) \| ([^|]+) \|", seed.read_text(), re.M)
    assert [(int(c), p.strip()) for c, p in rows] == [(c.status, c.phrase) for c in CODES]
    assert len(CODES) == 42


@exercises("status.yaml")
@pytest.mark.parametrize("code", [c.status for c in CODES if c.status not in (100, 101)])
def test_status_line_headers_and_body(server: MockServer, code: int) -> None:
    data, _ = raw_exchange(server.port, f"GET /status/{code} HTTP/1.1\r\nHost: x\r\n"
                                        "Connection: close\r\n\r\n".encode())
    line, headers, body = split(data)
    assert line == f"HTTP/1.1 {code} {CATALOGUE[code].phrase}".encode()
    for name, value in required_headers(code):
        assert headers[name.lower()] == value
    assert headers["x-request-id"]
    if code in NO_BODY:
        assert body == b""
        if code in (204, 304):
            assert "content-length" not in headers
        else:
            assert headers.get("content-length", "0") == "0"
    elif code >= 400:
        document = json.loads(body)
        assert document["error_code"] == f"CSS.{code:04d}"
        assert document["error_msg"] and headers["content-type"] == "application/json"
    if code == 405:
        assert headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"


def test_100_continue_comes_before_the_body(server: MockServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=3)
    try:
        sock.sendall(b"POST /status/200 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before any body byte
        sock.sendall(b"hello")
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
        assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        sock.close()


def test_101_is_a_real_websocket_handshake(server: MockServer) -> None:
    key = base64.b64encode(os.urandom(16))
    data, _ = raw_exchange(server.port, b"GET /status/101 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                        b"Sec-WebSocket-Key: " + key + b"\r\n\r\n", timeout=1)
    line, headers, _ = split(data)
    assert line == b"HTTP/1.1 101 Switching Protocols"
    assert headers["upgrade"] == "websocket" and headers["connection"].lower() == "upgrade"
    assert "sec-websocket-accept" in headers and "content-length" not in headers
    data, _ = raw_exchange(server.port, b"GET /status/101 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    line, headers, _ = split(data)
    assert line == b"HTTP/1.1 426 Upgrade Required" and headers["upgrade"] == "websocket"


def test_status_codes_doc_is_generated_from_the_catalogue() -> None:
    assert (ROOT / "docs" / "status-codes.md").read_text() == status_codes_markdown()
