"""A templated header whose value carries CR, LF or another control character (echoed from the
request, ``?v=%0D%0A``) is sent with each of them replaced by a space (RFC 9110 5.5), under the
rule's own status, and the journal says so: never a split response, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mockserver import MockServer
from tests.conftest import raw_exchange

SCENARIO = {
    "name": "echo",
    "rules": [
        {"match": {"path": "/echo"}, "respond": {"status": 202, "headers": {"X-Echo": "{{ query.v }}"},
                                                  "body": "ok"}},
        {"match": {"path": "/echo-fault"}, "fault": {"type": "truncate", "fraction": 0.5},
         "respond": {"headers": {"X-Echo": "{{ query.v }}"}, "body": "0123456789"}},
    ],
}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO) as s:
        yield s


def head_lines(data: bytes) -> list[bytes]:
    return data.partition(b"\r\n\r\n")[0].split(b"\r\n")


@pytest.mark.parametrize(("query", "sent"), [
    ("a%0D%0ASet-Cookie:%20evil=1", b"X-Echo: a  Set-Cookie: evil=1"),
    ("a%0ASet-Cookie:%20evil=1", b"X-Echo: a Set-Cookie: evil=1"),
    ("a%0D%0A%0D%0AHTTP/1.1%20200%20OK", b"X-Echo: a    HTTP/1.1 200 OK"),
    ("nul%00del%7Fbell%07tab%09end", b"X-Echo: nul del bell tab\tend"),
])
def test_control_characters_in_a_templated_header_become_spaces(server: MockServer, query: str,
                                                                 sent: bytes) -> None:
    server.reset()
    data, end = raw_exchange(server.port, f"GET /echo?v={query} HTTP/1.1\r\nHost: x\r\n"
                                          "Connection: close\r\n\r\n".encode())
    lines = head_lines(data)
    assert lines[0] == b"HTTP/1.1 202 Accepted" and end == "FIN"
    assert sent in lines  # one header line: the response is not split
    assert not any(line.lower().startswith(b"set-cookie") for line in lines)
    assert data.endswith(b"\r\n\r\nok") and data.count(b"HTTP/1.1 ") == 1 + query.count("HTTP/1.1")
    (entry,) = server.journal.entries()
    assert (entry.status, entry.outcome) == (202, "answered")
    assert tuple(entry.decisions) == ("header_sanitized: X-Echo: control characters replaced by spaces "
                               "(RFC 9110 5.5)",)


def test_a_clean_templated_header_is_untouched(server: MockServer) -> None:
    server.reset()
    r = httpx.get(server.url_for("/echo"), params={"v": "plain value"})
    assert (r.status_code, r.headers["X-Echo"]) == (202, "plain value")
    assert not server.journal.entries()[0].decisions


def test_a_fault_writing_raw_bytes_is_not_split_either(server: MockServer) -> None:
    data, _ = raw_exchange(server.port,
                           b"GET /echo-fault?v=a%0D%0AX-Injected:%201 HTTP/1.1\r\nHost: x\r\n\r\n")
    lines = head_lines(data)
    assert lines[0] == b"HTTP/1.1 200 OK" and b"X-Echo: a  X-Injected: 1" in lines
    assert not any(line.startswith(b"X-Injected") for line in lines)
