"""A key: or state: template that fails on a request is the mock's 500 with the template's
file:line, journaled as an error, nothing counted; never a traceback, and the server goes on."""

from __future__ import annotations

from pathlib import Path

import requests

from mockserver import Engine, MockServer, RequestSnapshot
from mockserver.scenario import load_text

TEXT = """name: keyed
seed: 3
rules:
  - name: per-shard
    match: {path: "/shards/{n}"}
    key: "{{ 100 // (path.n | int) }}"
    respond:
      - {status: 503}
      - {status: 200}
  - name: per-state
    match: {path: "/jobs/{n}"}
    state: "job-{{ 100 // (path.n | int) }}"
    requires_state: started
    respond: {status: 200}
  - name: clocked
    match: {path: /clocked}
    key: "{{ (now // 1000) | int }}-{{ random.int(1, 9) }}"
    respond: {status: 204}
"""


def test_a_failing_key_template_is_a_500_naming_its_line() -> None:
    engine = Engine([load_text(TEXT, "keyed.yaml")])
    res = engine.resolve(RequestSnapshot("GET", "/shards/0"))
    assert res.failed and res.plan.status == 500
    assert b"template failed at keyed.yaml:6 (key): " in res.plan.body
    assert res.decisions[0].startswith("template failed: key at keyed.yaml:6: ")
    assert engine.store.session("").hits == {}  # nothing counted
    # the same rule still works for a value the template can take
    assert [engine.resolve(RequestSnapshot("GET", "/shards/5")).plan.status for _ in range(2)] == [503, 200]


def test_a_failing_state_template_is_a_500_naming_its_line() -> None:
    engine = Engine([load_text(TEXT, "keyed.yaml")])
    res = engine.resolve(RequestSnapshot("GET", "/jobs/0"))
    assert res.plan.status == 500 and b"template failed at keyed.yaml:12 (state): " in res.plan.body


def test_key_templates_see_the_clock_and_the_seeded_draws() -> None:
    clock = [5000.0]
    engine = Engine([load_text(TEXT, "keyed.yaml")], clock=lambda: clock[0])
    res = engine.resolve(RequestSnapshot("GET", "/clocked"))
    again = Engine([load_text(TEXT, "keyed.yaml")], clock=lambda: clock[0]).resolve(
        RequestSnapshot("GET", "/clocked"))
    assert res.counter.startswith("keyed/clocked[5-") and res.counter == again.counter


def test_near_misses_survive_a_failing_key_template() -> None:
    engine = Engine([load_text(TEXT, "keyed.yaml")])
    misses = engine.near_misses(RequestSnapshot("POST", "/shards/0"))
    assert any(m.startswith("key: template failed at keyed.yaml:6: ") for n in misses for m in n.misses)


def test_over_the_wire_the_500_is_journaled_and_the_server_keeps_serving(tmp_path: Path) -> None:
    path = tmp_path / "keyed.yaml"
    path.write_text(TEXT)
    with MockServer([path]) as server, requests.Session() as s:
        s.trust_env = False
        answer = s.get(server.url_for("/shards/0"), timeout=5)
        assert answer.status_code == 500
        assert f"template failed at {path}:6 (key): " in answer.json()["error_msg"]
        assert s.get(server.url_for("/shards/4"), timeout=5).status_code == 503
        first = server.journal.wait_for(2, timeout=5)[0]
        assert (first.status, first.outcome, first.rule) == (500, "error", "keyed/per-shard")
        assert first.decisions[0].startswith(f"template failed: key at {path}:6: ")
