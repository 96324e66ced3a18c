"""Rate limits with a correct Retry-After, concurrency caps, and isolation by session."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from mockserver import MockServer

THROTTLED = {
    "name": "throttled",
    "rules": [{"match": {"path": "/api"}, "respond": {"json": {"ok": True}},
               "rate_limit": {"rate": 1, "per": "1s", "burst": 2, "headers": True}}],
}


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def test_bucket_admits_its_burst_then_429_with_retry_after() -> None:
    with MockServer(THROTTLED) as server:
        s = session()
        answers = [s.get(server.url_for("/api"), timeout=5) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 429]
        refused = answers[2]
        assert refused.reason == "TooManyRequests"
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error_code"] == "CSS.0429"
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert refused.headers["RateLimit-Policy"] == '"burst";q=2;w=1'
        assert "rate_limit: bucket" in server.journal.entries()[-1].decisions[0]


def test_the_clock_refills_the_bucket() -> None:
    with MockServer(THROTTLED) as server:
        s = session()
        assert [s.get(server.url_for("/api")).status_code for _ in range(3)] == [200, 200, 429]
        server.clock.advance(1.0)
        assert s.get(server.url_for("/api")).status_code == 200
        assert s.get(server.url_for("/api")).status_code == 429


def test_a_client_that_obeys_retry_after_gets_through_one_that_does_not_is_refused() -> None:
    with MockServer(THROTTLED) as server:
        impatient = session()
        assert [impatient.get(server.url_for("/api")).status_code for _ in range(4)] == [200, 200, 429, 429]
        server.reset()
        polite = session()
        polite.mount("http://", HTTPAdapter(max_retries=Retry(total=2, status_forcelist=[429],
                                                              backoff_factor=0)))
        for _ in range(2):
            polite.get(server.url_for("/api"))
        started = time.monotonic()
        r = polite.get(server.url_for("/api"), timeout=10)  # 429, waits Retry-After: 1, then 200
        assert r.status_code == 200
        assert time.monotonic() - started >= 0.95
        assert [e.status for e in server.journal.entries()] == [200, 200, 429, 200]


def test_rate_limit_keys_and_sessions_are_separate_buckets() -> None:
    scenario = {"name": "per-tenant", "rules": [{"match": {"path": "/t"},
                "rate_limit": {"rate": 1, "burst": 1, "key": "header:X-Tenant"}}]}
    with MockServer(scenario) as server:
        s = session()

        def get(tenant: str, sess: str = "") -> int:
            headers = {"X-Tenant": tenant, "X-Mock-Session": sess}
            return s.get(server.url_for("/t"), headers=headers).status_code

        assert [get("a"), get("b"), get("a"), get("b")] == [200, 200, 429, 429]
        assert [get("a", "other"), get("a", "other")] == [200, 429]


async def test_concurrency_cap_admits_exactly_its_limit() -> None:
    """200 concurrent requests against a cap of 10: exactly 190 get 503 with Retry-After."""
    scenario = {"name": "capped", "rules": [{"match": {"path": "/slow"}, "respond": {"delay": "1.5s"},
                                             "concurrency": {"limit": 10, "retry_after": "2s"}}]}
    async with MockServer(scenario) as server:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
            async def one() -> tuple[int, str | None]:
                async with client.get(server.url_for("/slow")) as resp:
                    await resp.read()
                    return resp.status, resp.headers.get("Retry-After")

            results = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(200))), 30)
        assert Counter(results) == {(200, None): 10, (503, "2"): 190}
        assert server.engine.store.session("").inflight == {}  # every slot released


def test_a_refused_request_changes_no_state() -> None:
    """A DELETE refused with 429 does not delete: the retry still finds the resource."""
    scenario = {"name": "res", "rules": [
        {"name": "delete", "match": {"method": "DELETE", "path": "/items/{id}"}, "key": "{{ path.id }}",
         "state": "item-{{ path.id }}", "requires_state": "started", "sets_state": "deleted",
         "rate_limit": {"rate": 1, "burst": 1}, "respond": {"status": 204}},
        {"name": "gone", "match": {"method": "DELETE", "path": "/items/{id}"}, "respond": {"status": 404}},
    ]}
    with MockServer(scenario) as server:
        s = session()
        assert s.delete(server.url_for("/items/a")).status_code == 204
        assert s.delete(server.url_for("/items/b")).status_code == 429  # refused: b is not deleted
        server.clock.advance(1)
        assert s.delete(server.url_for("/items/b")).status_code == 204
        assert s.delete(server.url_for("/items/a")).status_code == 404
        assert server.store.states() == {"item-a": "deleted", "item-b": "deleted"}


def test_an_overlay_lays_its_chaos_over_another_scenario() -> None:
    base = {"name": "api", "rules": [{"match": {"path": "/x"}, "respond": {"body": "ok"}}]}
    overlay = {"name": "throttle-api", "applies_to": ["api"],
               "rate_limit": {"rate": 1, "burst": 1}}
    with MockServer([base, overlay]) as server:
        s = session()
        assert [s.get(server.url_for("/x")).status_code for _ in range(2)] == [200, 429]
        server.remove("throttle-api")
        assert s.get(server.url_for("/x")).status_code == 200
