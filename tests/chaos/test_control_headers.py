"""A malformed X-Mock-* control header answers 400 with the reason, on the wire; a good one works."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from mockserver import MockServer
from tests.conftest import raw_exchange

SCENARIO = {"name": "controlled", "header_control": True,
            "rules": [{"match": {"path": "/ok"}, "respond": {"body": "ok"}}]}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO) as s:
        yield s


@pytest.mark.parametrize(("header", "message"), [
    ("X-Mock-Status: 5o3", "X-Mock-Status: found '5o3'; expected an HTTP status code from 100 to 599"),
    ("X-Mock-Status: 700", "X-Mock-Status: found '700'; expected an HTTP status code from 100 to 599"),
    ("X-Mock-Status: \u00b2", "X-Mock-Status: found '\u00b2'; expected an HTTP status code from 100 to 599"),
    ("X-Mock-Delay: soon", "X-Mock-Delay: found 'soon'; expected a duration such as 1.5, 250ms or 2s"),
    ("X-Mock-Fault: rest", "X-Mock-Fault: found 'rest'; expected one of reset, close, hang, drop, "
                           "truncate, malformed_chunk, garbage, malformed_status, slow_headers"),
    ("X-Mock-Fault: drip", "X-Mock-Fault: found 'drip'; expected one of reset, close, hang, drop, "
                           "truncate, malformed_chunk, garbage, malformed_status, slow_headers"),
])
def test_malformed_control_header_gets_400_with_the_reason(server: MockServer, header: str,
                                                           message: str) -> None:
    data, _ = raw_exchange(server.port, f"GET /ok HTTP/1.1\r\nHost: x\r\n{header}\r\n"
                                          "Connection: close\r\n\r\n".encode())
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 BadRequest\r\n"), data
    assert b"Content-Type: application/json" in head
    assert json.loads(body) == {"error_code": "CSS.0400", "error_msg": message}


def test_good_control_headers_still_work_and_no_header_is_normal(server: MockServer) -> None:
    assert requests.get(server.url + "/ok", headers={"X-Mock-Status": "503"}, timeout=5).status_code == 503
    plain = requests.get(server.url + "/ok", timeout=5)
    assert (plain.status_code, plain.text) == (200, "ok")


def test_without_header_control_the_headers_are_not_read() -> None:
    with MockServer({"name": "plain", "rules": [{"match": {"path": "/ok"}, "respond": {"body": "ok"}}]}) as s:
        resp = requests.get(s.url + "/ok", headers={"X-Mock-Status": "5o3"}, timeout=5)
        assert (resp.status_code, resp.text) == (200, "ok")


def test_envoy_headers_with_non_ascii_digits_are_ignored_not_a_crash(server: MockServer) -> None:
    for header in ("x-envoy-fault-abort-request: \u00b2", "x-envoy-fault-throughput-response: \u00b2"):
        data, _ = raw_exchange(server.port, f"GET /ok HTTP/1.1\r\nHost: x\r\n{header}\r\n"
                                            "Connection: close\r\n\r\n".encode())
        assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data
        assert data.endswith(b"\r\n\r\nok")
