"""Forwarding to a real upstream (httpbin): what goes up and what comes back, as on the wire."""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests

from mockserver import MockServer
from tests.conftest import raw_exchange


def scenario(httpbin_url: str) -> dict[str, Any]:
    return {
        "name": "proxied",
        "rules": [
            {"name": "local", "match": {"path": "/local"}, "respond": {"json": {"from": "mock"}}},
            {"name": "api", "match": {"path": "/api/{rest:path}"},
             "proxy": {"url": httpbin_url, "strip_prefix": "/api"}},
        ],
    }


@pytest.fixture(scope="module")
def server(httpbin_url: str) -> Iterator[MockServer]:
    with MockServer(scenario(httpbin_url), proxy_unmatched=httpbin_url) as s:
        yield s


def raw(port: int, request: str) -> bytes:
    data, _ = raw_exchange(port, request.encode("latin-1"), timeout=5)
    return data


def status_line(data: bytes) -> bytes:
    return data.split(b"\r\n", 1)[0]


def test_hop_by_hop_headers_are_dropped_and_forwarded_headers_added(server: MockServer,
                                                                    httpbin_url: str) -> None:
    answer = requests.get(server.url_for("/headers?show_env=1"), timeout=5, headers={
        "Connection": "keep-alive, X-Hop", "X-Hop": "must not pass", "Keep-Alive": "timeout=5",
        "TE": "trailers", "Proxy-Authorization": "Basic eDp5", "X-Kept": "yes"})
    seen = {k.lower(): v for k, v in answer.json()["headers"].items()}
    assert answer.status_code == 200
    for gone in ("x-hop", "keep-alive", "te", "proxy-authorization"):
        assert gone not in seen, gone
    assert seen["x-kept"] == "yes"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{server.port}"
    assert seen["via"] == "1.1 mockserver"
    assert seen["host"] == httpbin_url.removeprefix("http://")  # the upstream's Host, as a reverse proxy
    assert "accept-encoding" in seen and "user-agent" in seen  # the client's own, not aiohttp's
    assert seen["user-agent"].startswith("python-requests/")


def test_a_forwarded_chain_is_extended(server: MockServer) -> None:
    answer = requests.get(server.url_for("/headers?show_env=1"), timeout=5,
                          headers={"X-Forwarded-For": "10.0.0.7", "Via": "1.0 edge"})
    seen = answer.json()["headers"]
    assert seen["X-Forwarded-For"] == "10.0.0.7, 127.0.0.1"
    assert seen["Via"] == "1.0 edge, 1.1 mockserver"


def test_raw_query_and_methods_and_body_go_up_unchanged(server: MockServer) -> None:
    answer = requests.get(server.url_for("/get?a=1&a=2&b=%20x%2F"), timeout=5)
    assert answer.json()["args"] == {"a": ["1", "2"], "b": " x/"}
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        echoed = requests.request(method, server.url_for("/anything/x?q=1"), data=b"\x00\xffpayload",
                                  headers={"Content-Type": "application/octet-stream"}, timeout=5).json()
        assert echoed["method"] == method
        assert echoed["url"].endswith("/anything/x?q=1")
        assert echoed["data"].startswith("data:application/octet-stream;base64,")


def test_a_large_body_goes_up_whole(server: MockServer) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    echoed = httpx.post(server.url_for("/anything"), content=body, timeout=10).json()
    assert echoed["headers"]["Content-Length"] == str(len(body))


def test_status_line_and_reason_phrase_are_the_upstreams(server: MockServer, httpbin_url: str) -> None:
    port = int(httpbin_url.rsplit(":", 1)[1])
    request = "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    direct = raw(port, request.format("/status/418"))
    proxied = raw(server.port, request.format("/status/418"))
    assert status_line(direct).startswith(b"HTTP/1.1 418 ")
    assert status_line(proxied) == status_line(direct)
    assert proxied.endswith(direct.split(b"\r\n\r\n", 1)[1])  # httpbin's teapot body, byte for byte


def test_redirects_are_passed_back_not_followed(server: MockServer) -> None:
    answer = requests.get(server.url_for("/redirect-to?url=/get&status_code=302"), timeout=5,
                          allow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/get"
    assert server.journal.entries()[-1].status == 302


def test_gzip_is_passed_through_undecoded(server: MockServer) -> None:
    data = raw(server.port,
               "GET /gzip HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"\r\nContent-Encoding: gzip" in head
    if b"Transfer-Encoding: chunked" in head:  # undo the chunking, not the coding
        size, _, rest = body.partition(b"\r\n")
        body = rest[:int(size, 16)]
    assert body[:2] == b"\x1f\x8b"
    assert json.loads(gzip.decompress(body))["gzipped"] is True


def test_streamed_answers_arrive_as_they_are_sent(server: MockServer) -> None:
    lines = requests.get(server.url_for("/stream/5"), timeout=5).text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [0, 1, 2, 3, 4]
    # /drip sends 4 bytes over 1.2s: the first reaches the client long before the last is sent
    started = time.monotonic()
    with httpx.stream("GET", server.url_for("/drip?duration=1.2&numbytes=4&delay=0"), timeout=5) as answer:
        pieces = [(time.monotonic() - started, piece) for piece in answer.iter_raw()]
    assert b"".join(p for _, p in pieces) == b"****"
    assert pieces[0][0] < 0.7 < pieces[-1][0]


def test_a_rule_answers_locally_beside_a_proxy_rule(server: MockServer) -> None:
    assert requests.get(server.url_for("/local"), timeout=5).json() == {"from": "mock"}
    stripped = requests.get(server.url_for("/api/anything/deep?x=1"), timeout=5).json()
    assert stripped["url"].endswith("/anything/deep?x=1")  # /api stripped before forwarding
    entries = server.journal.entries()
    assert entries[-1].rule == "proxied/api" and entries[-1].outcome == "proxied"
    assert entries[-2].rule == "proxied/local" and entries[-2].outcome == "answered"


def test_a_scenario_can_forward_what_matches_no_rule(httpbin_url: str) -> None:
    spec = {"name": "fill-in", "proxy_unmatched": httpbin_url,
            "rules": [{"match": {"path": "/status/500"}, "respond": {"status": 200, "body": "mocked"}}]}
    with MockServer(spec) as s:
        assert requests.get(s.url_for("/status/500"), timeout=5).text == "mocked"
        assert requests.get(s.url_for("/status/201"), timeout=5).status_code == 201
        assert s.journal.entries()[-1].outcome == "proxied" and s.journal.entries()[-1].rule is None


def test_keep_alive_connections_to_the_client_survive_forwarding(server: MockServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for _ in range(3):
            sock.sendall(b"GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 204 ")


def test_head_gets_the_upstreams_headers_and_no_body(server: MockServer, httpbin_url: str) -> None:
    port = int(httpbin_url.rsplit(":", 1)[1])
    request = "HEAD /bytes/100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    direct, proxied = raw(port, request), raw(server.port, request)
    assert status_line(proxied) == status_line(direct) == b"HTTP/1.1 200 OK"
    assert proxied.endswith(b"\r\n\r\n")  # headers only
    assert b"\r\nContent-Length: 100\r\n" in proxied
