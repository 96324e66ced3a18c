"""Templates (Jinja2's sandbox, narrowed): values keep their types, and nothing but the data is reachable."""

from __future__ import annotations

import json

import pytest
from jinja2.exceptions import SecurityError
from jinja2.sandbox import safe_range
from multidict import MultiDict

from mockserver.request import RequestSnapshot
from mockserver.sandbox import ENV
from mockserver.templating import (
    Context,
    JsonTemplate,
    Template,
    TemplateRenderError,
    TemplateSyntaxError,
)

REQ = RequestSnapshot("POST", "/v1/p1/clusters/c9",
                      query=MultiDict([("limit", "5"), ("tag", "b"), ("tag", "a")]),
                      headers={"X-Trace": "t-1", "Content-Type": "application/json"},
                      body=b'{"cluster": {"name": "es", "n": 3, "items": [1, 2]}, "ok": true, "none": null}',
                      raw_path="/v1/p1/clusters/c9?limit=5&tag=b&tag=a", client="127.0.0.1")
CTX = Context(REQ, {"id": "c9"}, "rid-1", now=12.5, seed=7, ordinal=3, key="r")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("id={{ path.id }}", "id=c9"),
        ("{{query.limit}}/{{ query.offset | default(0) }}", "5/0"),
        ("{{ headers['x-trace'] }}", "t-1"),  # case-insensitive
        ("{{ json.cluster.name }}-{{ json.cluster.n }}", "es-3"),
        ("{{ request.method }} {{ request.path }} {{ request.id }}", "POST /v1/p1/clusters/c9 rid-1"),
        ("{{ request.query_string }}", "limit=5&tag=b&tag=a"),
        ("{{ query.missing | default('a default') }}", "a default"),
        ("[{{ query.missing }}]", "[]"),  # absent: empty text
        ("{{ json.cluster.items }}", "[1, 2]"),  # the key "items", not dict.items; lists as JSON
        ("{{ json.ok }}", "true"),
        ("{{ query.getall('tag') | join(',') }}", "b,a"),
        ("{% for t in query_all.tag %}<{{ t }}>{% endfor %}", "<b><a>"),
        ("{{ json.cluster.n * 10 + 1 }}", "31"),
        ("{{ 'many' if json.cluster.n > 2 else 'few' }}", "many"),
        ("{{ json.cluster.name | upper }}", "ES"),
        ("{{ now }}", "12.5"),
        ("no template", "no template"),
    ],
)
def test_text_template(source: str, expected: str) -> None:
    assert Template(source).render(CTX) == expected


def test_json_template_keeps_types_of_whole_expressions() -> None:
    doc = {"name": "{{ json.cluster.name }}", "n": "{{ json.cluster.n }}", "cluster": "{{ json.cluster }}",
           "label": "n={{ json.cluster.n }}", "list": ["{{ path.id }}", 1], "ok": "{{ json.ok }}",
           "null": "{{ json.none }}", "absent": "{{ json.nothing.deeper }}",
           "sum": "{{ json.cluster.n + 0.5 }}",
           "tags": "{{ query.getall('tag') }}", "count": "{{ json.cluster.items | length }}",
           "{{ path.id }}-key": 1}
    assert json.loads(JsonTemplate(doc).render(CTX)) == {
        "name": "es", "n": 3, "cluster": {"name": "es", "n": 3, "items": [1, 2]}, "label": "n=3",
        "list": ["c9", 1], "ok": True, "null": None, "absent": None, "sum": 3.5, "tags": ["b", "a"],
        "count": 2, "c9-key": 1}


def test_a_string_parameter_stays_a_string() -> None:
    """A path parameter of digits is text: only expressions that compute a number give one."""
    ctx = Context(RequestSnapshot("GET", "/o/007"), {"id": "007"}, "r")
    assert json.loads(JsonTemplate({"id": "{{ path.id }}", "n": "{{ path.id | int }}"}).render(ctx)) == {
        "id": "007", "n": 7}


def test_pagination_in_one_template() -> None:
    doc = {"page": "{{ query.page | default(1) | int }}",
           "next": "{{ '/items?page=%d' % ((query.page | default(1) | int) + 1) "
                   "if (query.page | default(1) | int) < 3 else none }}",
           "items": "{{ range(((query.page | default(1) | int) - 1) * 2, "
                    "(query.page | default(1) | int) * 2) | list }}"}
    template = JsonTemplate(doc)

    def page(q: str) -> object:
        return json.loads(template.render(Context(RequestSnapshot("GET", "/items", query=MultiDict(
            [("page", q)] if q else [])), {}, "r")))
    assert page("") == {"page": 1, "next": "/items?page=2", "items": [0, 1]}
    assert page("3") == {"page": 3, "next": None, "items": [4, 5]}


def test_form_fields_and_raw_body() -> None:
    req = RequestSnapshot("POST", "/f", headers={"Content-Type": "application/x-www-form-urlencoded"},
                          body=b"name=a+b&tag=x&tag=y")
    ctx = Context(req, {}, "r")
    assert Template("{{ form.name }}|{{ form.getall('tag') | join(',') }}|{{ body }}").render(ctx) == \
        "a b|x,y|name=a+b&tag=x&tag=y"
    assert Template("[{{ form.name }}]").render(CTX) == "[]"  # not a form: no fields


def test_seeded_random_is_reproducible_per_seed_and_ordinal() -> None:
    t = Template("{{ random.int(1, 1000000) }}-{{ random.uniform() }}")
    first = t.render(CTX)
    assert t.render(CTX) == first
    assert t.render(Context(REQ, {}, "x", seed=7, ordinal=3, key="r")) == first  # not the request id
    assert t.render(Context(REQ, {}, "x", seed=8, ordinal=3, key="r")) != first
    assert t.render(Context(REQ, {}, "x", seed=7, ordinal=4, key="r")) != first
    a, b = first.split("-")
    assert a != str(int(float(b) * 1000000))  # two draws, not one reused
    assert Template("{{ random.choice(['a', 'b', 'c']) }}").value(CTX) in ("a", "b", "c")


def test_item_and_collection_are_reserved_for_resources() -> None:
    assert Template("{{ item }}").value(CTX) is None
    ctx = Context(REQ, {}, "r", item={"id": "i1"}, collection=[{"id": "i1"}, {"id": "i2"}])
    assert Template("{{ item.id }}/{{ collection | length }}").render(ctx) == "i1/2"


SANDBOX = "keys of the data, not the attribute '__class__' (the sandbox refuses it)"
FILES = "(templates read the request, not other files)"
NEW = "(as in {{ query.lang | default('en') }})"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ __import__('os') }}",
         "names from path, query, query_all, headers, json, form, body, request, now, random, item, "
         "collection, not '__import__'"),
        ("{{ config.secret }}",
         "names from path, query, query_all, headers, json, form, body, request, now, random, item, "
         "collection, not 'config'"),
        ("{{ request.__class__ }}", SANDBOX),
        ("{{ json['__class__'] }}", SANDBOX),
        ("{{ request.secret }}",
         "request.<field> with one of method, path, query_string, id, client, body, not 'secret'"),
        ("{{ json.items() }}",
         "calls only of range(...), query.getall(name), form.getall(name) and random.int/uniform/choice; "
         "filters do the rest (| default('x'), | int, | join(',')), not a call of something else"),
        ("{{ lipsum() }}",
         "names from path, query, query_all, headers, json, form, body, request, now, random, item, "
         "collection, not 'lipsum'"),
        ("{{ random.seed }}",
         "random.int(a, b), random.uniform(a, b) or random.choice(list), not random.seed"),
        ("{% include 'secrets.txt' %}",
         f"a template without {{% include %}} {FILES}"),
        ("{% import 'os' as os %}", f"a template without {{% import %}} {FILES}"),
        ("{{ headers.X-Trace }}",
         "names from path, query, query_all, headers, json, form, body, request, now, random, item, "
         "collection, not 'Trace' (a header with '-' in its name is headers['X-Trace'])"),
        ("{{ path.id", "a Jinja2 template: unexpected end of template, expected 'end of print statement'"),
    ],
)
def test_templates_cannot_reach_beyond_the_request(source: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        Template(source)
    assert str(info.value) == message


@pytest.mark.parametrize(("source", "message"), [
    ("{{ query.lang | en }}", "a Jinja2 template: No filter named 'en'; the old fallback '| en' is now a "
                              "filter: write | default('en') (as in {{ query.lang | default('en') }})"),
    ("{{ query.n | int | 0 }}", "a Jinja2 template: expected token 'name', got 'integer'; the old fallback "
                                f"'| 0' is now a filter: write | default(0) {NEW}"),
    ("{{ query.n | 'int' }}", "a Jinja2 template: expected token 'name', got 'string'; the old fallback "
                              "'| 'int'' is now a filter: write | default('int') (as in "
                              "{{ query.lang | default('en') }})"),
])
def test_the_old_fallback_syntax_says_how_to_write_it_now(source: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        Template(source)
    assert str(caught.value) == message


@pytest.mark.parametrize("source", [
    "{{ json|attr('__class__') }}", "{{ (json.cluster.items | first).real }}",
    "{{ json.cluster.name.upper }}",
    "{{ json.cluster.items | map(attribute='__class__') | list }}",
])
def test_attributes_outside_the_data_stay_unreachable_at_request_time(source: str) -> None:
    """What the static check cannot see (filters, computed objects) the sandbox answers as missing."""
    value = json.loads(JsonTemplate({"v": source}).render(CTX))["v"]
    assert value in (None, [None, None]), value


def test_calls_the_static_check_cannot_see_are_refused_at_request_time() -> None:
    """A root rebound to data: its 'method' is a missing value, and calling it fails plainly."""
    with pytest.raises(TemplateRenderError):
        Template("{% set query = json.cluster %}{{ query.getall('name') }}").render(CTX)
    with pytest.raises(SecurityError, match="is not callable in a template"):
        ENV.call(None, str.upper, "x")  # the guard under the static check
    assert ENV.call(None, safe_range, 3) == range(3)


def test_call_of_a_filter_result_is_refused_at_load() -> None:
    with pytest.raises(TemplateSyntaxError, match=r"^calls only of range"):
        Template("{{ (json.cluster.name | attr('upper'))() }}")


def test_arithmetic_on_a_missing_value_is_a_render_error() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        Template("{{ query.nothing + 1 }}").value(CTX)
    assert str(caught.value).startswith("'{{ query.nothing + 1 }}': ")


def test_path_reads_are_reported_for_the_load_check() -> None:
    reads = Template("{{ path.id }} {{ path.x | default('') }} {{ path.y is defined }}").reads
    assert [(r.key, r.has_fallback) for r in reads] == [("id", False), ("x", True), ("y", True)]
    reads = Template("{% if path.id is defined %}{{ path.id }}{% endif %}").reads
    assert [(r.key, r.has_fallback) for r in reads] == [("id", True), ("id", True)]


def test_query_all_reads_every_value_in_order() -> None:
    req = RequestSnapshot("GET", "/", query=MultiDict([("tag", "b"), ("tag", "a"), ("x", "1")]))
    ctx = Context(req, {}, "id")
    assert Template("{{ query_all.tag }}|{{ query.tag }}|{{ query_all.none }}").render(ctx) == \
        '["b", "a"]|b|[]'
    assert json.loads(JsonTemplate({"t": "{{ query_all.tag }}", "n": "{{ query_all.none }}"}).render(ctx)) \
        == {"t": ["b", "a"], "n": []}
