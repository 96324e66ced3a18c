"""Chaos in front of a real upstream: the same faults, the same client exceptions, the same seeds."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest
import requests

from mockserver import MockServer
from tests.conftest import raw_exchange

FAULTS: dict[str, Any] = {
    "reset": "reset",
    "close": "close",
    "truncate": {"type": "truncate", "bytes": 10},
    "chunk": "malformed_chunk",
    "status": "malformed_status",
}


def rules(httpbin_url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, fault in FAULTS.items():
        out.append({"name": f"plain-{name}", "match": {"path": f"/plain/{name}"}, "fault": fault,
                    "respond": {"json": {"filler": "x" * 64}}})
        out.append({"name": f"proxied-{name}", "match": {"path": f"/proxied/{name}"}, "fault": fault,
                    "proxy": {"url": httpbin_url + "/anything"}})
    return out


@pytest.fixture(scope="module")
def server(httpbin_url: str) -> Iterator[MockServer]:
    with MockServer({"name": "chaos", "seed": 5, "rules": rules(httpbin_url)}, max_delay=2.0) as s:
        yield s


def requests_error(url: str) -> str:
    try:
        body = requests.get(url, timeout=5).content
    except requests.RequestException as exc:
        return type(exc).__name__
    return f"none ({len(body)} bytes)"


def httpx_error(url: str) -> str:
    try:
        httpx.get(url, timeout=5)
    except httpx.HTTPError as exc:
        # the lengths differ (httpbin's body is not the plain rule's); the failure must not
        return f"{type(exc).__name__}: {re.sub(r'[0-9]+', 'N', str(exc))}"
    return "none"


def aiohttp_error(url: str) -> str:
    async def get() -> str:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as answer:
                    await answer.read()
            except aiohttp.ClientError as exc:
                return type(exc).__name__
        return "none"

    return asyncio.run(get())


@pytest.mark.parametrize("name", sorted(FAULTS))
@pytest.mark.parametrize("client", [requests_error, httpx_error, aiohttp_error],
                         ids=["requests", "httpx", "aiohttp"])
def test_clients_see_the_same_exception_as_on_a_plain_rule(server: MockServer, name: str,
                                                           client: Any) -> None:
    plain = client(server.url_for(f"/plain/{name}"))
    proxied = client(server.url_for(f"/proxied/{name}"))
    assert not plain.startswith("none")
    assert proxied == plain
    entry = server.journal.entries()[-1]
    assert entry.rule == f"chaos/proxied-{name}" and entry.outcome == "fault"


def test_truncate_cuts_the_upstreams_body(server: MockServer) -> None:
    data, end = raw_exchange(server.port, b"GET /proxied/truncate HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    declared = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")))
    assert len(body) == 10 < declared  # the first 10 bytes of httpbin's JSON, then the close
    assert body.startswith(b"{") and end == "FIN"


def test_drip_spreads_the_upstreams_body(httpbin_url: str) -> None:
    spec = {"name": "drip", "rules": [{"match": {"path": "/json"}, "proxy": httpbin_url,
                                       "fault": {"type": "drip", "chunks": 3, "over": "600ms"}}]}
    with MockServer(spec) as s:
        direct = requests.get(httpbin_url + "/json", timeout=5).content
        with httpx.stream("GET", s.url_for("/json"), timeout=5) as answer:
            pieces = list(answer.iter_raw())
        assert b"".join(pieces) == direct and len(pieces) >= 2


def journaled_faults(httpbin_url: str, seed: int) -> list[str | None]:
    spec = {"name": "mixed", "seed": seed, "rules": [{
        "match": {"path": "/get"}, "proxy": httpbin_url,
        "mix": [{"weight": 2}, {"weight": 1, "fault": "reset"}, {"weight": 1, "respond": {"status": 503}}]}]}
    with MockServer(spec) as s:
        for _ in range(16):
            with contextlib.suppress(requests.ConnectionError):
                requests.get(s.url_for("/get"), timeout=5)
        return [e.fault or str(e.status) for e in s.journal.entries()]


def test_a_seeded_mix_gives_the_same_faults_every_run(httpbin_url: str) -> None:
    first = journaled_faults(httpbin_url, 42)
    assert first == journaled_faults(httpbin_url, 42)
    assert {"reset", "503", "200"} <= set(first)  # real answers from httpbin, and both kinds of chaos
    assert first != journaled_faults(httpbin_url, 43)


def test_rate_limits_and_header_control_apply_before_forwarding(httpbin_url: str) -> None:
    spec = {"name": "limited", "rules": [{"match": {"path": "/anything/{x:path}"}, "proxy": httpbin_url,
                                          "rate_limit": {"rate": 2, "per": "1h", "burst": 2}}]}
    with MockServer(spec, header_control=True) as s:
        codes = [requests.get(s.url_for("/anything/a"), timeout=5).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert s.journal.entries()[-1].outcome != "proxied"
    with MockServer({"name": "h", "rules": [{"match": {"path": "/get"}, "proxy": httpbin_url}]},
                    header_control=True) as s:
        answer = requests.get(s.url_for("/get"), headers={"X-Mock-Status": "503"}, timeout=5)
        assert answer.status_code == 503 and "url" not in answer.json()  # the mock's, not httpbin's
        delayed = requests.get(s.url_for("/get"), headers={"X-Mock-Delay": "300ms"}, timeout=5)
        assert delayed.status_code == 200 and delayed.json()["url"].endswith("/get")
        assert delayed.elapsed.total_seconds() >= 0.28


def test_a_timeline_phase_answers_instead_of_the_upstream(httpbin_url: str) -> None:
    spec = {"name": "outage", "timeline": [{"until": "1h", "respond": {"status": 503}}],
            "rules": [{"match": {"path": "/get"}, "proxy": httpbin_url}]}
    with MockServer(spec) as s:
        assert requests.get(s.url_for("/get"), timeout=5).status_code == 503
