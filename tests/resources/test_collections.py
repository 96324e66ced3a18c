"""Collections, paging and lifecycles in the engine, on a test clock: no sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver.engine import Engine
from mockserver.errors import ScenarioError
from mockserver.request import RequestSnapshot
from mockserver.resources import merge
from mockserver.scenario import load_text
from mockserver.templating import Context

SCENARIO = """\
name: things
resources:
  things:
    seed:
      - {id: a, n: 1, kind: x}
      - {id: b, n: 2, kind: y}
      - {id: c, n: 3, kind: x}
rules:
  - match: {method: GET, path: /things}
    resource:
      collection: things
      action: list
      filter: {kind: "{{ query.kind }}"}
      sort: "{{ query.sort }}"
      page: {offset: "{{ query.offset }}", limit: "{{ query.limit }}", default: 2}
    respond:
      json: {total: "{{ collection.total }}", more: "{{ collection.more }}",
             ids: "{{ collection.items | map(attribute='id') | list }}"}
  - match: {method: POST, path: /things}
    resource:
      collection: things
      action: create
      item: {n: "{{ json.n }}", state: creating}
      lifecycle:
        - {after: 30s, set: {state: available}}
        - {after: 40s, gone: true}
    respond: {status: 201, json: "{{ item }}"}
  - match: {method: GET, path: "/things/{id}"}
    resource: {collection: things, action: show, id: "{{ path.id }}"}
    respond: {json: "{{ item }}"}
  - match: {method: PUT, path: "/things/{id}"}
    resource: {collection: things, action: replace, id: "{{ path.id }}"}
    respond: {json: "{{ item }}"}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def call(engine: Engine, method: str, target: str, body: Any = None,
         session: str = "") -> tuple[int, Any, tuple[str, ...]]:
    path, _, qs = target.partition("?")
    query = dict(p.split("=") for p in qs.split("&")) if qs else {}
    headers = {"X-Mock-Session": session} if session else {}
    data = json.dumps(body).encode() if body is not None else b""
    res = engine.resolve(RequestSnapshot(method, path, query=query, headers=headers, body=data), "r1")
    ctx = Context(RequestSnapshot(method, path, query=query, headers=headers, body=data), res.params, "r1",
                  item=res.item, collection=res.collection)
    payload = res.plan.render(ctx)[1] if res.plan.templated else res.plan.body
    return res.plan.status, json.loads(payload) if payload else None, tuple(res.decisions)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(clock: Clock) -> Engine:
    return Engine([load_text(SCENARIO, "things.yaml")], clock=clock, seed=3)


@pytest.mark.parametrize(("query", "total", "ids", "more"), [
    ("", 3, ["a", "b"], True),
    ("offset=2", 3, ["c"], False),
    ("offset=1&limit=5", 3, ["b", "c"], False),
    ("kind=x", 2, ["a", "c"], False),
    ("sort=-n", 3, ["c", "b"], True),
    ("sort=kind,-n&limit=3", 3, ["c", "a", "b"], False),
    ("offset=7", 3, [], False),
])
def test_listing_is_computed_from_the_collection(engine: Engine, query: str, total: int, ids: list[str],
                                                 more: bool) -> None:
    status, body, _ = call(engine, "GET", "/things?" + query)
    assert (status, body) == (200, {"total": total, "ids": ids, "more": more})


def test_lifecycle_runs_on_the_clock_and_evaluates_on_read(engine: Engine, clock: Clock) -> None:
    status, made, decisions = call(engine, "POST", "/things", {"n": 9})
    assert status == 201 and made["state"] == "creating" and made["n"] == 9
    assert decisions == (f"resource things: created {made['id']}",)
    clock.now = 29.9
    assert call(engine, "GET", f"/things/{made['id']}")[1]["state"] == "creating"
    clock.now = 30.0
    assert call(engine, "GET", f"/things/{made['id']}")[1]["state"] == "available"
    assert call(engine, "GET", "/things?limit=9")[1]["total"] == 4
    clock.now = 41
    assert call(engine, "GET", f"/things/{made['id']}")[0] == 404  # gone on its own
    assert call(engine, "GET", "/things?limit=9")[1]["total"] == 3


def test_generated_uuids_are_reproducible_under_a_seed(clock: Clock) -> None:
    def ids(seed: int) -> list[str]:
        engine = Engine([load_text(SCENARIO, "things.yaml")], clock=clock, seed=seed)
        return [call(engine, "POST", "/things", {"n": i})[1]["id"] for i in range(3)]

    first = ids(3)
    assert first == ids(3) and first != ids(4) and len(set(first)) == 3
    assert all(len(i) == 36 and i[14] == "4" for i in first)


def test_replace_drops_what_the_new_item_lacks_and_sessions_are_apart(engine: Engine) -> None:
    assert call(engine, "PUT", "/things/a", {"n": 5})[1] == {"n": 5, "id": "a"}
    assert call(engine, "GET", "/things/a", session="s2")[1] == {"id": "a", "n": 1, "kind": "x"}
    engine.store.reset()
    assert call(engine, "GET", "/things/a")[1]["n"] == 1


def test_merge_is_a_json_merge_patch() -> None:
    assert merge({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None, "e": 4}, "f": [1]}) == {
        "a": 1, "b": {"d": 3, "e": 4}, "f": [1]}


@pytest.mark.parametrize(("text", "message"), [
    ("resources: {t: {}}\nrules:\n  - resource: {collection: nope, action: list}\n",
     "t.yaml:3:28: rules[0].resource.collection: found 'nope'; expected a collection declared under "
     "resources: t"),
    ("resources: {t: {}}\nrules:\n  - resource: {collection: t, action: show}\n",
     "t.yaml:3:15: rules[0].resource: found show without id; expected id: such as '{{ path.id }}'"),
    ("resources: {t: {}}\nrules:\n  - resource: {collection: t, action: erase}\n",
     "t.yaml:3:39: rules[0].resource.action: found 'erase'; expected 'create', 'list', 'show', "
     "'update', 'replace' or 'delete'"),
    ("resources: {t: {seed: [{id: 1}, {id: 1}]}}\nrules:\n  - {}\n",
     "t.yaml:1:33: resources.t.seed[1]: found id '1' again (item 1); expected unique ids"),
    ("resources: {t: {seed: [{name: x}]}}\nrules:\n  - {}\n",
     "t.yaml:1:24: resources.t.seed[0]: found {\"name\": \"x\"} as item 0; expected an object with its 'id'"),
    ("resources: {t: {}}\nrules:\n  - resource: {collection: t, action: list, page: {offset: 1, page: 2}}\n",
     "t.yaml:3:51: rules[0].resource.page: found offset and page; expected offset and limit, or page "
     "and size, not both"),
])
def test_bad_declarations_say_where_and_what(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_text("name: t\n" + text, "t.yaml")
    assert str(info.value) == message.replace("t.yaml:1:", "t.yaml:2:").replace("t.yaml:3:", "t.yaml:4:")


def test_a_rule_on_a_collection_nobody_loaded_answers_500_naming_it(clock: Clock) -> None:
    overlay = load_text("name: o\nrules:\n  - match: {path: /x}\n"
                        "    resource: {collection: ghosts, action: list}\n", "o.yaml")
    status, body, decisions = call(Engine([overlay], clock=clock), "GET", "/x")
    assert status == 500 and body["error_msg"].startswith("no collection 'ghosts' is loaded (o.yaml:4")
    assert decisions == ("resource ghosts: not loaded",)
    both = Engine([load_text(SCENARIO, "things.yaml"), load_text(
        "name: o\nrules:\n  - match: {path: /x}\n    resource: {collection: things, action: list}\n"
        "    respond: {json: '{{ collection.total }}'}\n", "o.yaml")], clock=clock)
    assert call(both, "GET", "/x")[:2] == (200, 3)


def test_an_answer_chaos_replaced_changes_nothing(clock: Clock) -> None:
    text = """\
name: c
resources: {things: {}}
rules:
  - match: {method: POST, path: /things}
    resource: {collection: things, action: create}
    rate_limit: {rate: 0.001, burst: 1}
    respond: {status: 201, json: "{{ item }}"}
  - match: {method: GET, path: /things}
    resource: {collection: things, action: list}
    respond: {json: "{{ collection.total }}"}
"""
    engine = Engine([load_text(text, "c.yaml")], clock=clock)
    assert call(engine, "POST", "/things", {"a": 1})[0] == 201
    status, _, decisions = call(engine, "POST", "/things", {"a": 2})
    assert status == 429 and not any(d.startswith("resource") for d in decisions)
    assert call(engine, "GET", "/things")[1] == 1
