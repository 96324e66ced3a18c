"""Named states that change by themselves: after a time on the server's clock, or after N reads.

Unit tests drive the engine with a test clock (no sockets); then a server shows the change
through server.advance(), POST /__mock/clock/advance and fast mode, without waiting out the time.
The same cases on both backends (memory and Redis) are in test_shared_semantics.py.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from mockserver import Engine, MockServer, RequestSnapshot, ScenarioError, load_scenario
from mockserver.scenario import load_text

REBOOT: dict[str, Any] = {"name": "server", "rules": [
    {"name": "restart", "match": {"method": "POST", "path": "/restart"}, "state": "server",
     "sets_state": {"to": "rebooting", "for": "10s", "then": "running"}, "respond": {"status": 202}},
    {"name": "rebooting", "match": {"path": "/status"}, "state": "server", "requires_state": "rebooting",
     "respond": {"status": 503, "retry_after": 1}},
    {"name": "running", "match": {"path": "/status"}, "respond": {"json": {"status": "running"}}}]}

EXPORT: dict[str, Any] = {"name": "export", "rules": [
    {"name": "start", "match": {"method": "POST", "path": "/exports"}, "state": "export",
     "sets_state": {"to": "pending", "reads": 3, "then": "done"}, "respond": {"status": 202}},
    {"name": "pending", "match": {"path": "/exports/1"}, "state": "export", "requires_state": "pending",
     "respond": {"json": {"status": "pending"}}},
    {"name": "done", "match": {"path": "/exports/1"}, "state": "export", "requires_state": "done",
     "respond": {"json": {"status": "done"}}}]}


class HandClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def status(engine: Engine, method: str, path: str, **headers: str) -> int:
    return engine.resolve(RequestSnapshot(method, path, headers=headers)).plan.status


# --- the engine, on a test clock ---------------------------------------------------------------------

def test_a_state_changes_after_its_time_on_the_engines_clock() -> None:
    clock = HandClock()
    engine = Engine([load_scenario(REBOOT)], clock=clock)
    assert status(engine, "GET", "/status") == 200
    assert status(engine, "POST", "/restart") == 202
    clock.now = 9.99
    assert status(engine, "GET", "/status") == 503
    assert engine.store.states("", clock.now) == {"server": "rebooting"}
    clock.now = 10.0
    assert status(engine, "GET", "/status") == 200
    assert engine.store.states() == {"server": "running"}


def test_a_new_restart_starts_the_time_over() -> None:
    clock = HandClock()
    engine = Engine([load_scenario(REBOOT)], clock=clock)
    status(engine, "POST", "/restart")
    clock.now = 8.0
    status(engine, "POST", "/restart")
    clock.now = 12.0  # 12 s after the first restart, 4 s after the second
    assert status(engine, "GET", "/status") == 503
    clock.now = 18.0
    assert status(engine, "GET", "/status") == 200


def test_a_state_changes_after_n_reads() -> None:
    engine = Engine([load_scenario(EXPORT)], clock=HandClock())
    assert status(engine, "POST", "/exports") == 202
    bodies = [engine.resolve(RequestSnapshot("GET", "/exports/1")).plan.body for _ in range(5)]
    assert bodies == [b'{"status": "pending"}'] * 3 + [b'{"status": "done"}'] * 2


def test_time_or_reads_whichever_comes_first() -> None:
    scenario = {"name": "job", "rules": [
        {"name": "start", "match": {"method": "POST", "path": "/job"}, "state": "job",
         "sets_state": {"to": "running", "for": "30s", "reads": 5, "then": "done"},
         "respond": {"status": 202}},
        {"name": "running", "match": {"path": "/job"}, "state": "job", "requires_state": "running",
         "respond": {"status": 102, "break_protocol": True}},
        {"name": "other", "match": {"path": "/job"}, "respond": {"status": 200}}]}
    clock = HandClock()
    engine = Engine([load_scenario(scenario)], clock=clock)
    status(engine, "POST", "/job")
    assert [status(engine, "GET", "/job") for _ in range(2)] == [102, 102]
    clock.now = 30.0  # the time ran out before the reads did
    assert status(engine, "GET", "/job") == 200


def test_timed_states_are_per_session_and_set_state_cancels_the_change() -> None:
    clock = HandClock()
    engine = Engine([load_scenario(REBOOT)], clock=clock)
    status(engine, "POST", "/restart", **{"X-Mock-Session": "a"})
    assert status(engine, "GET", "/status", **{"X-Mock-Session": "b"}) == 200
    assert status(engine, "GET", "/status", **{"X-Mock-Session": "a"}) == 503
    engine.store.set_state("server", "rebooting", "a")  # set by hand: it stays until set again
    clock.now = 60.0
    assert status(engine, "GET", "/status", **{"X-Mock-Session": "a"}) == 503


def test_the_near_miss_shows_the_state_as_it_is_now() -> None:
    scenario = {"name": "s", "rules": [
        {"name": "restart", "match": {"method": "POST", "path": "/restart"}, "state": "server",
         "sets_state": {"to": "rebooting", "for": "10s", "then": "running"}},
        {"name": "rebooting", "match": {"path": "/status"}, "state": "server",
         "requires_state": "rebooting"}]}
    clock = HandClock()
    engine = Engine([load_scenario(scenario)], clock=clock)
    status(engine, "POST", "/restart")
    clock.now = 11.0
    res = engine.resolve(RequestSnapshot("GET", "/status"))
    assert res.plan.status == 404
    assert res.near_misses[0].misses == ("state server: expected 'rebooting', is 'running'",)


@pytest.mark.parametrize(("change", "message"), [
    ("{to: rebooting, then: running}",
     "s.yaml:5:17: rules[0].sets_state: found null; expected for (a duration such as 10s), reads (a count "
     "of polls), or both"),
    ("{to: rebooting, for: soon, then: running}",
     "s.yaml:5:38: rules[0].sets_state.for: found 'soon'; expected a duration such as 1.5, 250ms, 2s or 1m"),
    ("{to: pending, reads: 0, then: done}",
     "s.yaml:5:38: rules[0].sets_state.reads: found 0; expected a number >= 1"),
    ("{to: pending, reads: 2}",
     "s.yaml:5:17: rules[0].sets_state.then: found nothing; expected a value (this field is required)"),
])
def test_a_bad_state_change_is_refused_where_it_is_written(change: str, message: str) -> None:
    text = f"name: s\nrules:\n  - match: {{path: /x}}\n    state: server\n    sets_state: {change}\n"
    with pytest.raises(ScenarioError) as info:
        load_text(text, "s.yaml")
    assert str(info.value) == message


# --- a server: the clock moves without waiting -------------------------------------------------------

def test_server_advance_shows_the_change_without_waiting() -> None:
    with MockServer(REBOOT) as server, requests.Session() as s:
        s.trust_env = False
        server.clock.freeze()
        assert s.post(server.url_for("/restart"), timeout=5).status_code == 202
        assert s.get(server.url_for("/status"), timeout=5).status_code == 503
        assert server.states() == {"server": "rebooting"}
        server.advance(10)
        assert server.states() == {"server": "running"}
        assert s.get(server.url_for("/status"), timeout=5).json() == {"status": "running"}


def test_the_control_api_clock_advance_shows_the_change() -> None:
    with MockServer(REBOOT) as server, requests.Session() as s:
        s.trust_env = False
        server.clock.freeze()
        s.post(server.url_for("/restart"), timeout=5)
        assert s.get(server.url_for("/status"), timeout=5).status_code == 503
        assert s.post(server.url_for("/__mock/clock/advance"), json={"seconds": 9}, timeout=5).ok
        assert s.get(server.url_for("/status"), timeout=5).status_code == 503
        assert s.post(server.url_for("/__mock/clock/advance"), json={"seconds": 1}, timeout=5).ok
        assert s.get(server.url_for("/__mock/state"), timeout=5).json()["states"] == {"server": "running"}
        assert s.get(server.url_for("/status"), timeout=5).status_code == 200


def test_fast_mode_runs_the_states_time_faster() -> None:
    with MockServer(REBOOT, time_scale=0.01) as server, requests.Session() as s:
        s.trust_env = False
        started = time.monotonic()
        s.post(server.url_for("/restart"), timeout=5)
        first = s.get(server.url_for("/status"), timeout=5).status_code
        if time.monotonic() - started < 0.1:  # 10 s at a hundredth is 0.1 s of real time
            assert first == 503
        time.sleep(0.15)
        assert s.get(server.url_for("/status"), timeout=5).status_code == 200
