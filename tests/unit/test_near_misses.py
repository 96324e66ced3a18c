"""Near misses are ranked by how close a request came, not by the order rules were loaded in."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver import Engine, RequestSnapshot, load_scenario
from mockserver.matching import PathRegex, PathTemplate

# loaded so that load order would put the right answer last
SHOP: list[dict[str, Any]] = [
    {"name": "list-clusters", "match": {"method": "GET", "path": "/clusters"}},
    {"name": "create-order", "match": {"method": "POST", "path": "/orders"}},
    {"name": "show-user", "match": {"method": "GET", "path": "/users/{id}"}},
    {"name": "health", "match": {"path": "/health"}},
    {"name": "project-cluster", "match": {"method": "GET", "path": "/v1.0/{project_id}/clusters/{id}"}},
    {"name": "delete-order", "match": {"method": "DELETE", "path": "/orders/{id}"}},
    {"name": "report", "match": {"method": "GET", "path": "/reports/{name}.json"}},
    {"name": "files", "match": {"method": "GET", "path": "/files/{rest:path}"}},
    {"name": "search", "match": {"method": "GET", "path": "/search", "query": {"q": {"present": True}}}},
    {"name": "show-order", "match": {"method": "GET", "path": "/orders/{id}"}},
]


def misses(method: str, target: str, **request: Any) -> list[str]:
    engine = Engine([load_scenario({"name": "shop", "rules": SHOP})])
    path, _, query = target.partition("?")
    snapshot = RequestSnapshot(method, path, query=dict(p.split("=") for p in query.split("&") if p),
                               raw_path=target, **request)
    res = engine.resolve(snapshot)
    assert res.rule is None
    return [m.rule.partition("/")[2] for m in res.near_misses]


@pytest.mark.parametrize(("method", "target", "first"), [
    ("GET", "/order/7", ["show-order", "delete-order"]),         # a letter missing
    ("DELETE", "/order/7", ["delete-order", "show-order"]),      # the method breaks the tie
    ("GET", "/ordres/7", ["show-order", "delete-order"]),        # letters swapped
    ("GET", "/v1.0/p1/cluster/9", ["project-cluster"]),          # deep path, one letter off
    ("GET", "/v1.0/p1/clusters", ["project-cluster"]),           # a segment missing
    ("GET", "/cluster", ["list-clusters"]),
    ("GET", "/reports/q3.jsn", ["report"]),                      # a mixed segment
    ("GET", "/file/a/b/c", ["files"]),                           # a tail parameter
    ("GET", "/search", ["search"]),                              # path fits, query missing: first
    ("POST", "/orders/7", ["delete-order", "show-order"]),       # paths fit, methods not: first
])
def test_the_closest_rules_come_first(method: str, target: str, first: list[str]) -> None:
    found = misses(method, target)
    assert found[:len(first)] == first, found
    assert len(found) == 3


def test_three_are_listed_even_when_nothing_is_close() -> None:
    assert len(misses("GET", "/favicon.ico")) == 3


def test_closeness_of_paths() -> None:
    orders = PathTemplate.compile("/orders/{id}")
    assert orders.closeness("/orders/7") == 1.0
    assert orders.closeness("/order/7") > orders.closeness("/ord/7") > orders.closeness("/x/7")
    assert orders.closeness("/orders") == 0.5  # one of two segments missing
    assert orders.closeness("/orders/7/items") == pytest.approx(2 / 3)  # one segment too many
    assert orders.closeness("/" + "a/" * 5000) < 0.01  # a hostile path is far, and cheap to rank
    assert PathRegex(r"/api/v\d+/x").closeness("/api/v1/x") == 1.0
    assert 0 < PathRegex(r"/api/v\d+/x").closeness("/api/v1/y") < 1
