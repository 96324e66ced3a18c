"""``mockserver_faults_injected_total`` counts chaos that changed an answer, scraped over HTTP.

A mix or a timeline phase draws for every request, and the journal writes each draw down; the
metric counts only the draws that injected something (another answer, a fault, a delay), and
never decisions that are not chaos (a conditional 304).
"""

from __future__ import annotations

import contextlib
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from mockserver import MockServer

SCENARIO: dict[str, Any] = {
    "name": "mixed",
    "seed": 5,
    "rules": [
        {"name": "mixed", "match": {"path": "/mixed"}, "respond": {"body": "ok"},
         "mix": [{"weight": 2}, {"weight": 1, "respond": {"status": 503}}, {"weight": 1, "delay": "10ms"}]},
        {"name": "plain", "match": {"path": "/plain"}, "respond": {"body": "same"}},
    ],
}
TIMELINE: dict[str, Any] = {
    "name": "phased",
    "seed": 5,
    "timeline": [{"until": "1h", "mix": [{"weight": 1}, {"weight": 1, "respond": {"status": 500}}]}],
    "rules": [{"name": "phased", "match": {"path": "/phased"}, "respond": {"body": "ok"}}],
}


def _injected(server: MockServer) -> dict[str, float]:
    text = requests.get(server.url_for("/__mock/metrics"), timeout=5).text
    return {s.labels["decision"]: s.value for f in text_string_to_metric_families(text)
            if f.name == "mockserver_faults_injected" for s in f.samples}


def test_a_mix_counts_only_the_draws_that_injected_something() -> None:
    with MockServer([SCENARIO, TIMELINE]) as server:
        for _ in range(40):
            requests.get(server.url_for("/mixed"), timeout=5)
            requests.get(server.url_for("/phased"), timeout=5)
        etag = requests.get(server.url_for("/plain"), timeout=5).headers["ETag"]
        assert requests.get(server.url_for("/plain"), headers={"If-None-Match": etag},
                            timeout=5).status_code == 304
        entries = server.journal.entries()
        mixed = [e for e in entries if e.path == "/mixed"]
        phased = [e for e in entries if e.path == "/phased"]
        assert all(e.decisions for e in mixed + phased)  # every draw is written down...
        own = sum("the rule's own answer" in e.decisions[0] for e in mixed)
        late = sum("delay +0.01s" in e.decisions[0] for e in mixed)
        refused = sum(e.status == 503 for e in mixed)
        assert own + late + refused == 40 and min(own, late, refused) > 0  # the seed draws all three
        errors = sum(e.status == 500 for e in phased)
        assert 0 < errors < 40
        assert any(e.decisions for e in entries if e.path == "/plain")  # the 304 is written down too
        # ...but only what changed an answer is counted
        assert _injected(server) == {"mix": late + refused, "timeline": errors}


def test_a_rule_fault_under_a_mix_is_counted_when_it_happens() -> None:
    """The rule's own fault still happens when its mix draws the rule's own answer (or a delay),
    so the journal says so and the metric counts it."""
    scenario = {"name": "f", "seed": 1, "rules": [
        {"name": "cut", "match": {"path": "/cut"}, "fault": {"type": "truncate", "bytes": 1},
         "respond": {"body": "hello"}, "mix": [{"weight": 1}, {"weight": 1, "respond": {"status": 503}}]}]}
    with MockServer(scenario) as server:
        for _ in range(20):
            with contextlib.suppress(requests.exceptions.ChunkedEncodingError):  # the truncated ones
                requests.get(server.url_for("/cut"), timeout=5)
        entries = server.journal.entries()
        cut = [e for e in entries if e.fault == "truncate"]
        served = [e for e in entries if e.status == 503 and e.fault is None]
        assert len(cut) + len(served) == 20 and cut and served
        assert all(e.decisions[-1] == "fault: truncate (1 bytes)" for e in cut)
        assert _injected(server) == {"mix": len(served), "fault": len(cut)}
