"""Generated rules and requests: the index's candidates, match, match_head and explain agree."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.matching import RuleIndex
from mockserver.request import RequestSnapshot
from mockserver.scenario.load import load_scenario

SEGMENTS = st.sampled_from(["a", "b", "c", "a.json"])
TEMPLATE_SEGMENTS = st.sampled_from(["a", "b", "c", "{p}", "{p}.json", "{q}"])


@st.composite
def rule_paths(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["template", "tail", "regex", "none"]))
    if kind == "none":
        return None
    if kind == "regex":
        return {"regex": draw(st.sampled_from([r"^/a(/.*)?$", r"^/[bc]/[^/]+$", r"^/$"]))}
    parts = draw(st.lists(TEMPLATE_SEGMENTS, max_size=3))
    seen: list[str] = []
    for part in parts:  # each parameter name used once
        name = part.partition("{")[2].partition("}")[0]
        seen.append(part.replace("{", f"{{x{len(seen)}", 1) if name else part)
    text = "/" + "/".join(seen)
    return text + ("/{rest:path}" if kind == "tail" else "")


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    match: dict[str, Any] = {}
    path = draw(rule_paths())
    if path is not None:
        match["path"] = path
    methods = draw(st.sampled_from([None, ["GET"], ["POST"], ["GET", "PUT"]]))
    if methods is not None:
        match["method"] = methods
    if draw(st.booleans()):
        match["query"] = {"q": draw(st.sampled_from(["x", "y"]))}
    if draw(st.booleans()):
        match["headers"] = {"X-T": draw(st.sampled_from(["1", "2"]))}
    return {"match": match, "respond": {"status": 200}}


@st.composite
def requests(draw: st.DrawFn) -> RequestSnapshot:
    path = "/" + "/".join(draw(st.lists(SEGMENTS, max_size=4)))
    query = {"q": v} if (v := draw(st.sampled_from([None, "x", "y"]))) else {}
    headers = {"x-t": v} if (v := draw(st.sampled_from([None, "1", "2"]))) else {}
    return RequestSnapshot(draw(st.sampled_from(["GET", "HEAD", "POST", "PUT"])), path, query=query,
                           headers=headers)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rules(), min_size=1, max_size=6), st.lists(requests(), min_size=1, max_size=5))
def test_index_match_match_head_and_explain_agree(specs: list[dict[str, Any]],
                                                   asked: list[RequestSnapshot]) -> None:
    scenario = load_scenario({"name": "generated", "rules": specs})
    matchers = [rule.matcher for rule in scenario.rules]
    index = RuleIndex([m.path for m in matchers], [m.methods for m in matchers])
    for request in asked:
        candidates = index.candidates(request.path, request.method)
        assert list(candidates) == sorted(set(candidates))
        assert index.candidates(request.path, request.method) == candidates  # the cached answer agrees
        for position, matcher in enumerate(matchers):
            params = matcher.match(request)
            why = matcher.explain(request)
            # no body matchers here: the head decides, and explain is empty exactly on a match
            assert (params is not None) == matcher.match_head(request) == (why == []), (specs[position], why)
            if params is not None:
                assert position in candidates, (specs[position], request.path)
                if matcher.path is not None:
                    assert matcher.path.match(request.path) == params
            if position not in candidates:  # left out only when the path or method cannot match
                assert not matcher.allows_path(request.path) or (
                    matcher.methods is not None and request.method not in matcher.methods)
