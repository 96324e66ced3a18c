"""scenarios/examples/crud.yaml over the wire: a paginated CRUD API in one short file."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mockserver import MockServer
from mockserver.scenario import BUILTIN_DIR
from tests.integration.test_builtin_scenarios import exercises

CRUD = BUILTIN_DIR / "examples" / "crud.yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer([CRUD], port=0) as found:
        yield found


@pytest.fixture
def client(server: MockServer) -> Iterator[httpx.Client]:
    server.reset()
    with httpx.Client(base_url=server.url, timeout=5) as found:
        yield found


@exercises("examples/crud.yaml")
def test_a_whole_life(client: httpx.Client, server: MockServer) -> None:
    first = client.get("/books").json()
    assert (first["total"], first["page"], first["pages"], first["next"]) == (3, 1, 2, "/books?page=2")
    assert [b["title"] for b in first["books"]] == ["Dune", "Solaris"]
    assert [b["title"] for b in client.get(first["next"]).json()["books"]] == ["Neuromancer"]
    made = client.post("/books", json={"title": "Ubik", "author": "Dick", "isbn": "978-0547572291"})
    assert made.status_code == 201 and made.json()["id"] == "4"  # ids: int, after the seed's
    assert made.headers["Location"] == "/books/4"
    assert server.journal.entries()[-1].decisions == ("resource books: created 4",)
    assert client.get("/books/4").json() == made.json()
    patched = client.patch("/books/4", json={"year": 1969, "id": "99"}).json()
    assert patched == {**made.json(), "year": 1969}  # the id stays the path's
    assert client.get("/books", params={"per_page": 10}).json()["total"] == 4
    assert client.delete("/books/4").status_code == 204
    gone = client.get("/books/4")
    assert gone.status_code == 404 and gone.json()["error_msg"] == "books: no item 4"


def test_filter_sort_and_page_from_the_live_collection(client: httpx.Client) -> None:
    client.post("/books", json={"title": "Fiasco", "author": "Lem", "isbn": "978-0156306300", "year": 1986})
    lem = client.get("/books", params={"author": "Lem", "sort": "-year"}).json()
    assert (lem["total"], [b["title"] for b in lem["books"]]) == (2, ["Fiasco", "Solaris"])
    by_year = client.get("/books", params={"sort": "year", "per_page": 3, "page": 2}).json()
    assert [b["title"] for b in by_year["books"]] == ["Fiasco"] and by_year["next"] is None
    assert client.get("/books", params={"page": 9}).json()["books"] == []


@pytest.mark.parametrize(("query", "message"), [
    ({"page": "x"}, "page: found 'x'; expected a whole number"),
    ({"page": "0"}, "page: found 0; expected 1 or more"),
    ({"per_page": "101"}, "size: found 101; expected 1 to 100"),
])
def test_bad_paging_is_a_400_that_says_why(client: httpx.Client, query: dict[str, str], message: str) -> None:
    r = client.get("/books", params=query)
    assert (r.status_code, r.json()["error_msg"]) == (400, message)


def test_conflict_on_a_unique_field_changes_nothing(client: httpx.Client) -> None:
    r = client.post("/books", json={"title": "Dune again", "isbn": "978-0441013593"})
    assert (r.status_code, r.json()["error_msg"]) == (409, "books: isbn '978-0441013593' is taken by 1")
    assert client.get("/books", params={"per_page": 10}).json()["total"] == 3
    r = client.patch("/books/2", json={"isbn": "978-0441013593"})
    assert r.status_code == 409 and client.get("/books/2").json()["isbn"] == "978-0156027601"


def test_sessions_are_separate_and_reset_restores_the_seed(client: httpx.Client, server: MockServer) -> None:
    assert client.delete("/books/1").status_code == 204
    other = client.get("/books/1", headers={"X-Mock-Session": "other"})
    assert other.status_code == 200 and other.json()["title"] == "Dune"
    assert client.get("/books/1").status_code == 404
    server.reset()
    assert client.get("/books/1").status_code == 200
