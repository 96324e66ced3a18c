"""Every shipped scenario file is loaded and exercised here, over the wire."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from mockserver import MockServer, load_paths
from mockserver.scenario import BUILTIN_DIR

EXERCISED: dict[str, Callable[..., None]] = {}


def exercises(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def mark(test: Callable[..., None]) -> Callable[..., None]:
        EXERCISED[name] = test
        return test
    return mark


@pytest.fixture(scope="module")
def builtin() -> Iterator[MockServer]:
    with MockServer([BUILTIN_DIR]) as server:
        yield server


@pytest.fixture
def url(builtin: MockServer) -> Callable[[str], str]:
    builtin.reset()
    return builtin.url_for


def test_every_shipped_file_loads_and_has_a_test() -> None:
    files = sorted(p.relative_to(BUILTIN_DIR).as_posix() for p in BUILTIN_DIR.rglob("*.yaml"))
    for folder in {Path(f).parent for f in files}:
        load_paths([BUILTIN_DIR / folder])
    assert sorted(EXERCISED) == files


@exercises("demo.yaml")
def test_demo(url: Callable[[str], str]) -> None:
    s = requests.Session()
    assert s.get(url("/hello")).text == "hello from mockserver\n"
    assert s.get(url("/greet/ada?lang=fr"), headers={"User-Agent": "t"}).json() == {
        "greeting": "Hello, ada!", "lang": "fr", "agent": "t"}
    r = s.post(url("/echo"), json={"kind": "order", "id": 42, "items": [1, 2]})
    assert r.status_code == 201 and r.headers["Location"] == "/orders/42"
    assert r.json() == {"id": 42, "items": [1, 2], "received": True}
    assert s.post(url("/echo"), json={"kind": "refund"}).status_code == 404
    assert [s.get(url("/flaky")).status_code for _ in range(5)] == [503, 503, 503, 200, 200]
    started = time.monotonic()
    r = s.get(url("/slow"), params={"Timeout": "0.3"})
    assert (r.status_code, r.reason) == (504, "ServerTimeout") and time.monotonic() - started < 1.5
    assert s.get(url("/jittery")).json() == {"done": True}
    assert s.get(url("/session")).status_code == 401
    assert s.post(url("/login")).status_code == 204
    assert s.get(url("/session")).json() == {"user": "demo"}
    assert s.delete(url("/items/9?dry_run")).json() == {"would_delete": "9"}
    r = s.delete(url("/items/9"))
    assert r.status_code == 204 and r.content == b""


# Importing these modules registers their tests here: the chaos/ examples (tests/chaos), and the
# CSS pack (css/ and css/chaos/), exercised through the real Huawei Cloud SDK (tests/sdk).
from tests.chaos import test_fault_sequences, test_shipped  # noqa: E402, F401  (fault_sequences: chaos/retry-ladder.yaml)
from tests.protocol import test_status_codes  # noqa: E402, F401  (registers status.yaml)
from tests.proxy import test_shipped as _proxy_shipped  # noqa: E402, F401  (scenarios/proxy/)
from tests.sdk import test_css_api, test_css_chaos, test_css_statuses  # noqa: E402, F401
from tests.streaming import test_shipped as _streams_shipped  # noqa: E402, F401  (chaos/streams.yaml)
from tests.tls import test_sni  # noqa: E402, F401  (registers chaos/tls-faults.yaml)
