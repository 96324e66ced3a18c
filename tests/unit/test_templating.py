"""Templates read the request and nothing else."""

from __future__ import annotations

import json

import pytest

from mockserver.request import RequestSnapshot
from mockserver.templating import Context, JsonTemplate, Template, TemplateSyntaxError

REQ = RequestSnapshot("POST", "/v1/p1/clusters/c9", query={"limit": "5"},
                      headers={"X-Trace": "t-1"}, body=b'{"cluster": {"name": "es", "n": 3}}',
                      raw_path="/v1/p1/clusters/c9?limit=5")
CTX = Context(REQ, {"id": "c9"}, "rid-1")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("id={{ path.id }}", "id=c9"),
        ("{{query.limit}}/{{ query.offset | 0 }}", "5/0"),
        ("{{ headers.x-trace }}", "t-1"),
        ("{{ json.cluster.name }}-{{ json.cluster.n }}", "es-3"),
        ("{{ request.method }} {{ request.path }} {{ request.id }}", "POST /v1/p1/clusters/c9 rid-1"),
        ("{{ request.query_string }}", "limit=5"),
        ("{{ query.missing | 'a default' }}", "a default"),
        ("no template", "no template"),
    ],
)
def test_text_template(source: str, expected: str) -> None:
    assert Template(source).render(CTX) == expected


def test_json_template_keeps_types_of_whole_expressions() -> None:
    doc = {"name": "{{ json.cluster.name }}", "n": "{{ json.cluster.n }}", "cluster": "{{ json.cluster }}",
           "label": "n={{ json.cluster.n }}", "list": ["{{ path.id }}", 1]}
    assert json.loads(JsonTemplate(doc).render(CTX)) == {
        "name": "es", "n": 3, "cluster": {"name": "es", "n": 3}, "label": "n=3", "list": ["c9", 1]}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ __import__('os') }}", "a lookup such as path.id or query.limit | 10, not \"__import__('os')\""),
        ("{{ config.secret }}",
         "a lookup rooted at one of path, query, query_all, headers, json, request, not 'config'"),
        ("{{ request.__class__ }}",
         "request.<field> with one of method, path, query_string, id, client, body, not '__class__'"),
        ("{{ path }}", "path.<name>, a path lookup needs a name"),
    ],
)
def test_templates_cannot_reach_beyond_the_request(source: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        Template(source)
    assert str(info.value) == message


def test_query_all_reads_every_value_in_order() -> None:
    from multidict import MultiDict

    req = RequestSnapshot("GET", "/", query=MultiDict([("tag", "b"), ("tag", "a"), ("x", "1")]))
    ctx = Context(req, {}, "id")
    assert Template("{{ query_all.tag }}|{{ query.tag }}|{{ query_all.none }}").render(ctx) == \
        '["b", "a"]|b|[]'
    assert json.loads(JsonTemplate({"t": "{{ query_all.tag }}", "n": "{{ query_all.none }}"}).render(ctx)) \
        == {"t": ["b", "a"], "n": []}


@pytest.mark.parametrize(("source", "message"), [
    ("{{ query.n | int | 0 }}", "one literal fallback after |, not 'int | 0' (templates have no filters; "
                                "quote the text if you mean it: | 'int | 0')"),
    ("{{ query.n | default(0) }}", "one literal fallback after |, not 'default(0)' (templates have no "
                                   "filters; quote the text if you mean it: | 'default(0)')"),
])
def test_filter_chains_are_refused(source: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        Template(source)
    assert str(caught.value) == message


def test_filter_name_fallback_warns_and_quoting_silences() -> None:
    assert Template("{{ query.n | int }}").warnings == [
        "{{ query.n | int }} answers the text 'int' when the value is absent: templates have no "
        "filters; write | 'int' to mean the text"]
    assert Template("{{ query.n | 'int' }}").warnings == []
    assert Template("{{ query.n | 10 }}").warnings == []
