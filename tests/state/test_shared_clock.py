"""The test clock is one for all replicas: freeze() on one stops real time on all of them."""

from __future__ import annotations

import time
import uuid

import requests

from mockserver import MockServer

from .conftest import RedisProcess

OUTAGE = {
    "name": "outage",
    "timeline": [{"until": "30s"}, {"until": "60s", "respond": {"status": 503}, "retry_after": "remaining"}],
    "rules": [{"match": {"path": "/health"}, "respond": {"json": {"ok": True}}}],
}


def test_freeze_on_one_replica_stops_the_clock_of_all(redis_server: RedisProcess) -> None:
    state = {"state": redis_server.url, "state_prefix": f"clock-{uuid.uuid4().hex}"}
    with MockServer(OUTAGE, **state) as a, MockServer(OUTAGE, **state) as b:
        a.reset()
        a.freeze(at=0)
        time.sleep(1.2)  # real time passes; a frozen clock does not count it
        now = requests.post(b.url_for("/__mock/clock/advance"), json={"seconds": 0}, timeout=10).json()["now"]
        assert now == 0.0
        a.advance(35)  # 35 s on every replica: the outage, 25 s left exactly (not 25 minus the sleep)
        answer = requests.get(b.url_for("/health"), timeout=10)
        assert (answer.status_code, answer.headers["Retry-After"]) == (503, "25")
        b.unfreeze()
        time.sleep(1.2)
        assert requests.get(a.url_for("/health"), timeout=10).headers["Retry-After"] in ("24", "23")
