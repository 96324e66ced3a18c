"""The scenario loader under fuzzing: any input gives a scenario or our own located error.

Never another exception, never a hang (each example is bounded by hypothesis' deadline).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver import ScenarioError
from mockserver.scenario import BUILTIN_DIR, load_document, load_text
from mockserver.scenario.source import Document

SHIPPED = [yaml.safe_load(p.read_text()) for p in sorted(BUILTIN_DIR.rglob("*.yaml"))]
FIELDS = ["name", "rules", "match", "respond", "path", "method", "status", "delay", "json", "body",
          "headers", "query", "then", "times", "when", "if", "mix", "fault", "weight", "timeline",
          "until", "rate_limit", "rate", "burst", "key", "concurrency", "limit", "websocket", "seed",
          "deadline", "state", "sets_state", "requires_state", "repeat", "regex", "present", "signature"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                    st.sampled_from(["GET", "/a/{id}", "{{ path.id }}", "{{ x }}", "100ms", "2s", "reset",
                                     "cycle", "last", "[", "(?P<x>", "${HOME}", "-1", "1e309"]))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)),
                                               children, max_size=5)),
    max_leaves=30,
)


def error_of(load: Callable[[], Any]) -> ScenarioError | None:
    """Our own error, or None when the input loaded; any other exception fails the test."""
    try:
        load()
    except ScenarioError as exc:
        return exc
    return None


def check(data: Any) -> None:
    error = error_of(lambda: load_document(Document("<fuzz>", data), folder=None))
    if error is not None:
        assert error.problems
        for problem in error.problems:
            line = str(problem)
            assert line.startswith("<fuzz>") and ": " in line and "Traceback" not in line


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_documents(data: Any) -> None:
    check(data)


def _mutate(document: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    if isinstance(document, dict) and document:
        key = list(document)[head % len(document)]
        return {**document, key: _mutate(document[key], rest, value)}
    if isinstance(document, list) and document:
        index = head % len(document)
        return [*document[:index], _mutate(document[index], rest, value), *document[index + 1:]]
    return value


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SHIPPED), st.lists(st.integers(0, 50), max_size=6), json_values)
def test_mutated_shipped_scenarios(document: Any, path: list[int], value: Any) -> None:
    check(_mutate(document, path, value))


@settings(max_examples=300, deadline=2000)
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    error = error_of(lambda: load_text(text, "<fuzz>"))
    assert error is None or all(str(p).startswith("<fuzz>") for p in error.problems)


@settings(max_examples=100, deadline=2000)
@given(json_values)
def test_arbitrary_json_text(data: Any) -> None:
    try:
        text = json.dumps(data)
    except ValueError:
        return
    error_of(lambda: load_text(text, "<fuzz>"))


def test_yaml_bombs_and_tags_are_refused(tmp_path: Path) -> None:
    """Safe loading only: no Python objects; aliases cannot blow up the loader."""
    with pytest.raises(ScenarioError, match="could not determine a constructor"):
        load_text("name: x\nrules: [!!python/object/apply:os.system [echo hi]]\n")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n" \
           "name: bomb\nrules: [{match: {path: /x}}]\n"
    with pytest.raises(ScenarioError, match="unknown field 'a'"):
        load_text(bomb)
