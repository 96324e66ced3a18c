"""Repeated query parameters (``?tag=a&tag=b``) through real clients: any/all matchers and the
``query_all`` template see every value, in the order the client sent them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import requests

from mockserver import MockServer
from tests.conftest import raw_exchange

SCENARIO = {
    "name": "repeated",
    "rules": [
        {"name": "both", "match": {"path": "/items", "query": {"tag": {"all": ["red", "blue"]}}},
         "respond": {"json": {"rule": "both", "tags": "{{ query_all.tag }}", "first": "{{ query.tag }}"}}},
        {"name": "some-x", "match": {"path": "/items", "query": {"tag": {"any": {"startswith": "x-"}}}},
         "respond": {"body": "some-x {{ query_all.tag }}"}},
        {"name": "some-of", "match": {"path": "/items", "query": {"tag": {"any": ["green", "gold"]}}},
         "respond": {"body": "some-of"}},
        {"name": "every-digit", "match": {"path": "/items", "query": {"tag": {"all": {"regex": "^[0-9]+$"}}}},
         "respond": {"body": "every-digit"}},
        {"name": "first-only", "match": {"path": "/first", "query": {"tag": "a"}},
         "respond": {"body": "first {{ query_all.none }}"}},
    ],
}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO) as s:
        yield s


@pytest.mark.parametrize(("params", "status", "text"), [
    ([("tag", "blue"), ("tag", "red")], 200, '{"rule": "both", "tags": ["blue", "red"], "first": "blue"}'),
    ([("tag", "red"), ("tag", "x"), ("tag", "blue")], 200,
     '{"rule": "both", "tags": ["red", "x", "blue"], "first": "red"}'),
    ([("tag", "plain"), ("tag", "x-1")], 200, 'some-x ["plain", "x-1"]'),
    ([("tag", "a"), ("tag", "gold")], 200, "some-of"),
    ([("tag", "1"), ("tag", "22")], 200, "every-digit"),
    ([("tag", "1"), ("tag", "2b")], 404, None),   # all: one value fails
    ([("tag", "red")], 404, None),                # all: [red, blue], blue missing
    ([], 404, None),                              # all: {regex}: an absent parameter is not "every"
])
def test_requests_and_httpx_agree(server: MockServer, params: list[tuple[str, str]], status: int,
                                  text: str | None) -> None:
    by_requests = requests.get(server.url + "/items", params=params, timeout=5)
    with httpx.Client(timeout=5) as client:
        by_httpx = client.get(server.url + "/items", params=params)
    for answer in (by_requests, by_httpx):
        assert answer.status_code == status, answer.text
        if text is not None:
            assert answer.text == text


def test_plain_tests_still_see_the_first_value(server: MockServer) -> None:
    assert requests.get(server.url + "/first?tag=a&tag=b", timeout=5).text == "first []"
    assert requests.get(server.url + "/first?tag=b&tag=a", timeout=5).status_code == 404


def test_near_miss_names_the_values(server: MockServer) -> None:
    data, _ = raw_exchange(server.port, b"GET /items?tag=red&tag=2b HTTP/1.1\r\nHost: x\r\n"
                                        b"Connection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 404 ")
    assert b"query tag: expected all of ['red', 'blue'] among the values, got ['red', '2b']" in data
