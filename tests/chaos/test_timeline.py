"""Timelines: phases change at the right moments under the controllable clock."""

from __future__ import annotations

from collections import Counter

import requests

from mockserver import MockServer

OUTAGE = {
    "name": "outage",
    "seed": 5,
    "timeline": [
        {"until": "30s"},
        {"until": "60s", "respond": {"status": 503}, "retry_after": "remaining"},
        {"until": "90s", "mix": [{"weight": 1}, {"weight": 1, "respond": {"status": 500}}]},
    ],
    "rules": [{"match": {"path": "/health"}, "respond": {"json": {"ok": True}}}],
}


def test_phases_follow_the_clock() -> None:
    with MockServer(OUTAGE) as server:
        server.clock.freeze(at=0)  # only advance() moves time: "25.0s left" cannot drift under load
        s = requests.Session()
        url = server.url_for("/health")
        assert s.get(url).status_code == 200
        server.clock.advance(29)
        assert s.get(url).status_code == 200
        server.clock.advance(6)  # 35 s: outage, 25 s left
        r = s.get(url)
        assert (r.status_code, r.reason, r.headers["Retry-After"]) == (503, "ServiceUnavailable", "25")
        assert r.json()["error_code"] == "CSS.0503"
        server.clock.advance(24)  # 59 s: 1 s left
        assert s.get(url).headers["Retry-After"] == "1"
        server.clock.advance(6)  # 65 s: half the answers fail
        counts = Counter(s.get(url).status_code for _ in range(40))
        assert set(counts) == {200, 500} and 8 <= counts[500] <= 32
        server.clock.advance(30)  # 95 s: recovered
        assert [s.get(url).status_code for _ in range(5)] == [200] * 5
        decisions = server.journal.entries()[2].decisions
        assert decisions == ("timeline: phase 1 (30s-60s), 25.0s left",)
        server.reset()  # the timeline starts over
        assert s.get(url).status_code == 200
