"""The engine without sockets: selection, sequences, limits, state, branches, delays, deadline."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver import Engine, RequestSnapshot, load_scenario


def engine(*rules: dict[str, Any], seed: int | None = None, **scenario: Any) -> Engine:
    return Engine([load_scenario({"name": "t", "rules": list(rules), **scenario})], seed=seed)


def req(method: str = "GET", path: str = "/x", **kw: Any) -> RequestSnapshot:
    return RequestSnapshot(method, path, **kw)


def statuses(e: Engine, n: int, **kw: Any) -> list[int]:
    return [e.resolve(req(**kw)).plan.status for _ in range(n)]


def test_fail_three_times_then_succeed() -> None:
    """The one short declaration: three 503s, then 200 for good."""
    e = engine({"match": {"path": "/x"}, "respond": [{"status": 503, "repeat": 3}, {"status": 200}]})
    assert statuses(e, 6) == [503, 503, 503, 200, 200, 200]


@pytest.mark.parametrize(
    ("then", "expected"),
    [
        ("cycle", [500, 200, 500, 200, 500]),
        ("last", [500, 200, 200, 200, 200]),
        ({"status": 410}, [500, 200, 410, 410, 410]),
    ],
)
def test_after_the_last_answer(then: Any, expected: list[int]) -> None:
    e = engine({"match": {"path": "/x"}, "respond": [{"status": 500}, {"status": 200}], "then": then})
    assert statuses(e, 5) == expected


def test_times_limits_a_rule_then_the_next_rule_answers() -> None:
    e = engine({"match": {"path": "/x"}, "times": 2, "respond": {"status": 429}},
               {"match": {"path": "/x"}, "respond": {"status": 200}})
    assert statuses(e, 4) == [429, 429, 200, 200]


def test_priority_beats_file_order_and_ties_keep_file_order() -> None:
    e = engine({"name": "first", "match": {"path": "/x"}, "respond": {"status": 201}},
               {"name": "second", "match": {"path": "/x"}, "respond": {"status": 202}},
               {"name": "urgent", "priority": 10, "match": {"path": "/x"}, "respond": {"status": 203}})
    assert e.resolve(req()).rule.name == "urgent"  # type: ignore[union-attr]
    e = engine({"name": "first", "match": {"path": "/x"}, "respond": {"status": 201}},
               {"name": "second", "match": {"path": "/x"}, "respond": {"status": 202}})
    assert e.resolve(req()).rule.name == "first"  # type: ignore[union-attr]


def test_named_state_moves_and_gates() -> None:
    e = engine(
        {"name": "pay", "match": {"method": "POST", "path": "/pay"}, "state": "invoice",
         "sets_state": "paid", "respond": {"status": 202}},
        {"name": "paid", "match": {"path": "/invoice"}, "state": "invoice", "requires_state": "paid",
         "respond": {"json": {"state": "paid"}}},
        {"name": "open", "match": {"path": "/invoice"}, "respond": {"json": {"state": "open"}}},
    )
    assert e.resolve(req(path="/invoice")).rule.name == "open"  # type: ignore[union-attr]
    assert e.resolve(req("POST", "/pay")).plan.status == 202
    assert e.resolve(req(path="/invoice")).rule.name == "paid"  # type: ignore[union-attr]
    assert e.store.states() == {"invoice": "paid"}


def test_sessions_keep_separate_counters_and_states() -> None:
    e = engine({"match": {"path": "/x"}, "respond": [{"status": 503}, {"status": 200}]})
    a = {"headers": {"X-Mock-Session": "a"}}
    b = {"headers": {"X-Mock-Session": "b"}}
    assert [e.resolve(req(**a)).plan.status, e.resolve(req(**b)).plan.status,
            e.resolve(req(**a)).plan.status, e.resolve(req(**b)).plan.status] == [503, 503, 200, 200]


def test_conditional_answer_on_query_or_header() -> None:
    e = engine({"match": {"path": "/x"},
                "when": [{"if": {"query": {"dry_run": {"present": True}}}, "respond": {"status": 200}},
                         {"if": {"headers": {"X-Mode": "slow"}}, "respond": {"status": 202}}],
                "respond": {"status": 204}})
    assert e.resolve(req(query={"dry_run": ""})).plan.status == 200
    assert e.resolve(req(headers={"x-mode": "slow"})).plan.status == 202
    assert e.resolve(req()).plan.status == 204


def test_unmatched_lists_the_nearest_rules() -> None:
    e = engine({"name": "list", "match": {"method": "GET", "path": "/v1/{p}/clusters"}},
               {"name": "create", "match": {"method": "POST", "path": "/v1/{p}/clusters",
                                            "headers": {"Content-Type": "application/json"}}},
               {"name": "other", "match": {"path": "/elsewhere"}})
    res = e.resolve(req("PUT", "/v1/p/clusters"))
    assert res.rule is None and res.plan.status == 404
    assert [(m.rule, m.misses) for m in res.near_misses] == [
        ("t/list", ("method: expected GET|HEAD, got PUT",)),
        ("t/create", ("method: expected POST, got PUT", "header Content-Type: expected equals "
                      "'application/json', got absent")),
        ("t/other", ("path: expected /elsewhere, got /v1/p/clusters",)),
    ]


def test_head_is_answered_by_get_rules() -> None:
    e = engine({"match": {"method": "GET", "path": "/x"}})
    assert e.resolve(req("HEAD")).rule is not None
    assert e.resolve(req("POST")).rule is None


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [
        ({"Timeout": "2"}, {}, 2.0),
        ({"Timeout": "500ms"}, {}, 0.5),
        ({}, {"Timeout": "2s"}, 2.0),
        ({}, {}, None),
        ({"Timeout": "soon"}, {}, None),
    ],
)
def test_deadline_read_from_timeout_parameter(query: dict[str, str], headers: dict[str, str],
                                              expected: float | None) -> None:
    e = engine({"match": {"path": "/x"}, "respond": {"delay": "3s"}})
    res = e.resolve(req(query=query, headers=headers))
    assert res.deadline == expected
    assert res.delay == 3.0


def test_deadline_parameter_can_be_renamed_or_disabled() -> None:
    """(The deadline is read only when the answer is delayed: only then can it pass first.)"""
    e = engine({"match": {"path": "/x"}, "respond": {"delay": "1s"},
                "deadline": {"query": "timeout_ms", "header": None, "unit": "ms"}},
               {"match": {"path": "/y"}, "respond": {"delay": "1s"}, "deadline": False})
    assert e.resolve(req(query={"timeout_ms": "250"})).deadline == 0.25
    assert e.resolve(req(headers={"Timeout": "1"})).deadline is None
    assert e.resolve(req(path="/y", query={"Timeout": "1"})).deadline is None


def test_seeded_delays_are_reproducible_and_seed_dependent() -> None:
    rule = {"match": {"path": "/x"}, "respond": {"delay": {"uniform": ["10ms", "90ms"]}}}
    first = [engine(rule, seed=1).resolve(req()).delay for _ in range(3)]

    def run(seed: int) -> list[float]:
        e = engine(rule, seed=seed)
        return [e.resolve(req()).delay for _ in range(20)]

    run_a, run_b, run_c = run(1), run(1), run(2)
    assert run_a == run_b != run_c
    assert len(set(first)) == 1  # same ordinal, same draw
    assert all(0.01 <= d <= 0.09 for d in run_a)


def test_lognormal_delays_respect_median_and_cap() -> None:
    e = engine({"match": {"path": "/x"},
                "respond": {"delay": {"lognormal": {"median": "100ms", "sigma": 0.5, "max": "250ms"}}}},
               seed=3)
    delays = sorted(e.resolve(req()).delay for _ in range(2001))
    assert max(delays) <= 0.25
    assert 0.09 <= delays[1000] <= 0.11


def test_scenario_defaults_apply_and_rules_override() -> None:
    e = engine({"match": {"path": "/x"}, "respond": {"headers": {"X-B": "rule"}}},
               defaults={"headers": {"X-A": "default", "X-B": "default"}, "delay": "10ms"})
    plan = e.resolve(req()).plan
    assert ("X-A", "default") in plan.headers and ("X-B", "rule") in plan.headers
    assert e.resolve(req()).delay == 0.01


def test_catalogue_defaults_on_errors() -> None:
    plan = engine({"match": {"path": "/x"}, "respond": {"status": 504}}).resolve(req()).plan
    assert plan.reason == "ServerTimeout"
    assert plan.body == b'{"error_code": "CSS.0504", "error_msg": "The request cannot be fulfilled ' \
                        b'within a given time."}'


def test_key_gives_each_resource_its_own_counters_and_state() -> None:
    """create sets the state of the new id; each id polls creating twice, then is available."""
    e = engine(
        {"name": "create", "match": {"method": "POST", "path": "/clusters"},
         "state": "cluster-{{ request.id }}", "sets_state": "creating",
         "respond": {"status": 201, "json": {"id": "{{ request.id }}"}}},
        {"name": "polling", "match": {"path": "/clusters/{id}"}, "key": "{{ path.id }}", "times": 2,
         "state": "cluster-{{ path.id }}", "requires_state": "creating",
         "respond": {"json": {"status": "creating"}}},
        {"name": "ready", "match": {"path": "/clusters/{id}"},
         "state": "cluster-{{ path.id }}", "requires_state": "creating",
         "respond": {"json": {"status": "available"}}},
        {"name": "unknown", "match": {"path": "/clusters/{id}"}, "respond": {"status": 404}},
    )
    assert e.resolve(req("POST", "/clusters"), "c1").plan.status == 201
    assert e.resolve(req("POST", "/clusters"), "c2").plan.status == 201
    polls = [e.resolve(req(path=f"/clusters/{cid}")).rule.name  # type: ignore[union-attr]
             for cid in ("c1", "c1", "c2", "c1", "c2", "c2", "zz")]
    assert polls == ["polling", "polling", "polling", "ready", "polling", "ready", "unknown"]
    assert e.store.states() == {"cluster-c1": "creating", "cluster-c2": "creating"}


def test_requires_state_accepts_any_of_a_list() -> None:
    e = engine({"name": "restart", "match": {"path": "/x"}, "requires_state": ["started", "running"],
                "respond": {"status": 202}},
               {"name": "other", "match": {"path": "/x"}, "respond": {"status": 409}})
    assert e.resolve(req()).plan.status == 202
    e.store.set_state("default", "stopped")
    assert e.resolve(req()).plan.status == 409
