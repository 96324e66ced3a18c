"""OPTIONS on the wire: 204 with Allow, unless a rule names OPTIONS itself (RFC 9110 9.3.7).

A rule without a method answers every method it is asked with, except OPTIONS: a client asking
what a resource allows must not get that rule's body (the status explorer's JSON) instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mockserver import MockServer
from tests.conftest import ROOT, raw_exchange

ALL = b"DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
SCENARIO = {
    "name": "opts",
    "rules": [
        {"name": "any", "match": {"path": "/any"}, "respond": {"json": {"any": True}}},
        {"name": "preflight", "match": {"method": "OPTIONS", "path": "/cors"},
         "respond": {"status": 200, "headers": {"Access-Control-Allow-Origin": "*"}, "body": "preflight"}},
        {"name": "cors", "match": {"path": "/cors"}, "respond": {"json": {"cors": True}}},
        {"name": "get", "match": {"method": "GET", "path": "/mixed"}, "respond": {"body": "got"}},
        {"name": "put", "match": {"method": "PUT", "path": "/mixed"}, "respond": {"body": "put"}},
    ],
}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer([SCENARIO, ROOT / "scenarios/status.yaml"]) as s:
        yield s


def exchange(server: MockServer, method: str, path: str) -> tuple[bytes, dict[bytes, bytes], bytes]:
    data, end = raw_exchange(server.port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
                                          "Connection: close\r\n\r\n".encode())
    assert end == "FIN"
    head, _, body = data.partition(b"\r\n\r\n")
    line, *fields = head.split(b"\r\n")
    return line, {k.lower(): v.strip() for k, _, v in (f.partition(b":") for f in fields)}, body


@pytest.mark.parametrize("path", ["/status/200", "/status/503", "/any"])
def test_a_rule_without_a_method_leaves_options_to_the_server(server: MockServer, path: str) -> None:
    server.reset()
    line, fields, body = exchange(server, "OPTIONS", path)
    assert line == b"HTTP/1.1 204 NoContent"
    assert fields[b"allow"] == ALL  # a rule without a method allows them all
    assert body == b"" and b"content-length" not in fields
    (entry,) = server.journal.entries()
    assert (entry.method, entry.status, entry.rule, entry.outcome) == ("OPTIONS", 204, None, "answered")


def test_other_methods_still_reach_a_rule_without_a_method(server: MockServer) -> None:
    line, _, body = exchange(server, "DELETE", "/any")
    assert (line, body) == (b"HTTP/1.1 200 OK", b'{"any": true}')
    line, _, _ = exchange(server, "POST", "/status/503")
    assert line == b"HTTP/1.1 503 ServiceUnavailable"


def test_a_rule_that_names_options_takes_it_over(server: MockServer) -> None:
    line, fields, body = exchange(server, "OPTIONS", "/cors")
    assert (line, fields[b"access-control-allow-origin"], body) == (b"HTTP/1.1 200 OK", b"*", b"preflight")
    assert exchange(server, "GET", "/cors")[2] == b'{"cors": true}'


def test_rules_with_methods_give_their_union(server: MockServer) -> None:
    line, fields, _ = exchange(server, "OPTIONS", "/mixed")
    assert (line, fields[b"allow"]) == (b"HTTP/1.1 204 NoContent", b"GET, HEAD, OPTIONS, PUT")


def test_a_catch_all_rule_does_not_answer_options() -> None:
    with MockServer({"name": "all", "rules": [{"respond": {"body": "anything"}}]}) as server:
        line, fields, body = exchange(server, "OPTIONS", "/whatever")
        assert (line, fields[b"allow"], body) == (b"HTTP/1.1 204 NoContent", ALL, b"")
        assert exchange(server, "GET", "/whatever")[2] == b"anything"
