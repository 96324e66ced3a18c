"""Path templates, value matchers and the rule index, without sockets."""

from __future__ import annotations

import pytest

from mockserver.matching import (
    JsonMatcher,
    PathRegex,
    PathTemplate,
    RequestMatcher,
    RuleIndex,
    TemplateError,
    ValueMatcher,
    json_lookup,
    json_subset,
)
from mockserver.request import RequestSnapshot


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("/v1.0/{project_id}/clusters", "/v1.0/p1/clusters", {"project_id": "p1"}),
        ("/v1.0/{project_id}/clusters/{id}", "/v1.0/p1/clusters/c9", {"project_id": "p1", "id": "c9"}),
        ("/v1.0/{project_id}/clusters", "/v1.0/p1/clusters/extra", None),
        ("/v1.0/{project_id}/clusters", "/v1.0//clusters", None),
        ("/files/{name}.json", "/files/report.json", {"name": "report"}),
        ("/files/{name}.json", "/files/report.xml", None),
        ("/static/{rest:path}", "/static/a/b/c.css", {"rest": "a/b/c.css"}),
        ("/", "/", {}),
        ("/hello", "/hello/", None),
    ],
)
def test_path_template(template: str, path: str, expected: dict[str, str] | None) -> None:
    """A template captures whole segments (or parts of one) and nothing else."""
    assert PathTemplate.compile(template).match(path) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("/a/{id}/b/{id}", "parameter names used once each ('id' repeats)"),
        ("/a/{rest:path}/b", "{name:path} only as the last segment"),
        ("/a/{1bad}", "a template whose parameters look like {name} (segment '{1bad}')"),
    ],
)
def test_path_template_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        PathTemplate.compile(template)
    assert str(info.value) == message


def test_path_regex_named_groups() -> None:
    assert PathRegex(r"^/orders/(?P<id>\d+)$").match("/orders/12") == {"id": "12"}
    assert PathRegex(r"^/orders/(?P<id>\d+)$").match("/orders/x") is None


@pytest.mark.parametrize(
    ("kind", "value", "actual", "expected"),
    [
        ("equals", "10", "10", True),
        ("equals", 10, "10", True),
        ("equals", True, "true", True),
        ("equals", "10", None, False),
        ("regex", r"^\d+$", "123", True),
        ("regex", r"^\d+$", "12a", False),
        ("contains", "json", "application/json", True),
        ("startswith", "Bearer ", "Bearer x", True),
        ("startswith", "Bearer ", "Basic x", False),
        ("one_of", ["a", "b"], "b", True),
        ("one_of", ["a", "b"], "c", False),
        ("present", True, "", True),
        ("present", True, None, False),
        ("present", False, None, True),
        ("present", False, "x", False),
    ],
)
def test_value_matcher(kind: str, value: object, actual: str | None, expected: bool) -> None:
    assert ValueMatcher(kind, value).check(actual) is expected


def test_json_subset_and_lookup() -> None:
    doc = {"cluster": {"name": "es", "instanceNum": 3, "tags": [{"k": "a"}]}}
    assert json_subset({"cluster": {"name": "es"}}, doc)
    assert not json_subset({"cluster": {"name": "other"}}, doc)
    assert not json_subset({"cluster": {"instanceNum": "3"}}, doc)  # types matter
    assert json_subset({"cluster": {"instanceNum": 3.0}}, doc)  # numbers compare as numbers
    assert json_lookup(doc, "cluster.tags[0].k") == (True, "a")
    assert json_lookup(doc, "cluster.tags[3].k") == (False, None)


def _request(method: str = "GET", path: str = "/", **kw: object) -> RequestSnapshot:
    return RequestSnapshot(method, path, **kw)  # type: ignore[arg-type]


def test_request_matcher_headers_case_insensitive() -> None:
    matcher = RequestMatcher(frozenset({"GET"}), PathTemplate.compile("/x"),
                             headers={"X-Token": ValueMatcher("equals", "abc")})
    assert matcher.match(_request(headers={"x-token": "abc"})) is None  # path differs
    assert matcher.match(_request(path="/x", headers={"x-token": "abc"})) == {}
    assert matcher.match(_request(path="/x", headers={"X-TOKEN": "nope"})) is None


def test_request_matcher_explains_every_miss() -> None:
    matcher = RequestMatcher(
        frozenset({"POST"}), PathTemplate.compile("/orders"),
        query={"dry": ValueMatcher("present", True)},
        headers={"Authorization": ValueMatcher("startswith", "Bearer ")},
        json=JsonMatcher({"kind": "order"}, {"qty": ValueMatcher("regex", r"^\d+$")}),
    )
    misses = matcher.explain(_request("GET", "/order", body=b'{"kind": "refund", "qty": "x"}'))
    assert misses == [
        "method: expected POST, got GET",
        "path: expected /orders, got /order",
        "query dry: expected present, got absent",
        "header Authorization: expected startswith 'Bearer ', got absent",
        "json: body does not contain the expected subset",
        "json qty: expected regex '^\\\\d+$', got 'x'",
    ]


def test_rule_index_finds_only_candidates_in_order() -> None:
    paths = [PathTemplate.compile(p) for p in ("/a/{id}", "/a/b", "/c", "/a/{id}/x")]
    index = RuleIndex([*paths, PathRegex("^/a"), None])
    assert index.candidates("/a/b") == (0, 1, 4, 5)
    assert index.candidates("/a/z/x") == (3, 4, 5)
    assert index.candidates("/c") == (2, 5)
    assert index.candidates("/zzz") == (5,)  # the regex ^/a does not match /zzz


def test_rule_index_leaves_out_rules_for_other_methods() -> None:
    paths = [PathTemplate.compile(p) for p in ("/a", "/a", "/a", "/a")]
    index = RuleIndex([*paths, None], [frozenset({"POST"}), None, frozenset({"GET", "HEAD"}),
                                       frozenset({"DELETE"}), frozenset({"GET"})])
    assert index.candidates("/a", "GET") == (1, 2, 4)
    assert index.candidates("/a", "DELETE") == (1, 3)
    assert index.candidates("/a") == (0, 1, 2, 3, 4)  # no method: every rule on the path


def test_rule_index_scales_without_scanning() -> None:
    """1,000 distinct literal paths: a lookup sees one candidate, not a thousand."""
    paths = [PathTemplate.compile(f"/items/{i}/detail") for i in range(1000)]
    index = RuleIndex(paths)
    assert index.candidates("/items/999/detail") == (999,)


def test_values_matcher_any_and_all() -> None:
    from multidict import MultiDict

    from mockserver.matching import ValuesMatcher

    def request(*pairs: tuple[str, str]) -> RequestSnapshot:
        return RequestSnapshot("GET", "/", query=MultiDict(pairs))

    two = request(("tag", "a"), ("tag", "b"))
    assert ValuesMatcher.of("any", "b").check_values(two.query_values("tag"))
    assert not ValuesMatcher.of("any", "c").check_values(two.query_values("tag"))
    assert ValuesMatcher.of("any", ["c", "b"]).check_values(two.query_values("tag"))
    assert ValuesMatcher.of("all", ["b", "a"]).check_values(two.query_values("tag"))
    assert not ValuesMatcher.of("all", ["a", "c"]).check_values(two.query_values("tag"))
    every = ValuesMatcher("all", ValueMatcher("regex", "^[ab]$"))
    assert every.check_values(two.query_values("tag"))
    assert not every.check_values(request(("tag", "a"), ("tag", "z")).query_values("tag"))
    assert not every.check_values([])  # absent is not "every value passes"
    matcher = RequestMatcher(query={"tag": ValuesMatcher.of("all", ["a", "b"])})
    assert matcher.match(two) == {}
    assert matcher.match_head(two)
    assert matcher.match(request(("tag", "a"))) is None
    assert matcher.explain(request(("tag", "a"))) == [
        "query tag: expected all of ['a', 'b'] among the values, got ['a']"]
    assert RequestMatcher(query={"tag": ValuesMatcher.of("any", "q")}).explain(
        request()) == ["query tag: expected any value equals 'q', got 'absent'"]


def test_form_fields_from_urlencoded_and_multipart_bodies() -> None:
    from multidict import MultiDict

    from mockserver.matching import form_fields

    urlencoded = RequestSnapshot(
        "POST", "/", headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        body=b"a=1&b=x+y&a=2&empty=")
    assert form_fields(urlencoded) == MultiDict([("a", "1"), ("b", "x y"), ("a", "2"), ("empty", "")])
    multipart = RequestSnapshot("POST", "/",
                                headers={"Content-Type": 'multipart/form-data; boundary="XyZ"'},
                                body=b'--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nlogo\r\n'
                                     b'--XyZ\r\nContent-Disposition: form-data; name="file"; '
                                     b'filename="a.png"\r\n'
                                     b'Content-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ--\r\n')
    fields = form_fields(multipart)
    assert fields is not None and list(fields.keys()) == ["title", "file"]
    assert fields["title"] == "logo" and fields["file"].endswith("PNG")
    json_body = RequestSnapshot("POST", "/", headers={"Content-Type": "application/json"}, body=b"{}")
    assert form_fields(json_body) is None
    assert form_fields(RequestSnapshot("POST", "/", headers={"Content-Type": "multipart/form-data"})) is None


def test_body_matcher_explains_near_misses() -> None:
    from mockserver.matching import BodyMatcher, ValueMatcher, ValuesMatcher

    matcher = BodyMatcher(
        {"tag": ValuesMatcher.of("any", ["x", "y"]), "n": ValueMatcher("regex", "^[0-9]+$")},
        ValueMatcher("contains", "n="))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert matcher.misses(RequestSnapshot("POST", "/", headers=form, body=b"tag=z&tag=y&n=12")) == []
    assert matcher.misses(RequestSnapshot("POST", "/", headers=form, body=b"tag=z&N=1")) == [
        "body: expected contains 'n=', got 'tag=z&N=1'",
        "form n: expected regex '^[0-9]+$', got absent (the form has 'N': names are case-sensitive)",
        "form tag: expected any value one_of ['x', 'y'], got ['z']"]
    assert BodyMatcher(raw=ValueMatcher("equals", "x")).misses(RequestSnapshot("POST", "/")) == [
        "body: expected equals 'x', got empty"]


def test_the_compiler_owns_the_path_templates() -> None:
    """Rules of one load share a template object; another load parses its own (no module cache)."""
    import mockserver.matching
    from mockserver.scenario.load import load_text

    text = ("name: t\nrules:\n- match: {path: '/a/{id}'}\n  respond: {status: 200}\n"
            "- match: {path: '/a/{id}', method: POST}\n  respond: {status: 201}\n")
    first, second = load_text(text), load_text(text)
    one, two = (rule.matcher.path for rule in first.rules)
    assert isinstance(one, PathTemplate) and one is two
    assert second.rules[0].matcher.path is not one and second.rules[0].matcher.path.text == "/a/{id}"
    assert not [name for name, value in vars(mockserver.matching).items()
                if isinstance(value, dict) and not name.startswith("__")]
