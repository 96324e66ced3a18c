"""GET/PUT /__mock/resources/{name}: read and arrange a collection, in process and remotely."""

from __future__ import annotations

import httpx
import pytest

from mockserver import MockServer
from mockserver.control.remote import RemoteMockServer
from mockserver.scenario import BUILTIN_DIR

CRUD = BUILTIN_DIR / "examples" / "crud.yaml"


def test_read_and_set_a_collection_over_the_control_api() -> None:
    with MockServer([CRUD], port=0) as server, httpx.Client(base_url=server.url, timeout=5) as http:
        remote = RemoteMockServer(server.url)
        assert [b["id"] for b in remote.resources("books")] == ["1", "2", "3"]
        arranged = remote.set_resources("books", [{"id": "9", "title": "Only"}], session="t1")
        assert arranged == [{"id": "9", "title": "Only"}]
        listed = http.get("/books", headers={"X-Mock-Session": "t1"}).json()
        assert (listed["total"], listed["books"]) == (1, arranged)
        assert http.get("/books").json()["total"] == 3  # the default session is untouched
        http.post("/books", json={"title": "New"}, headers={"X-Mock-Session": "t1"})
        assert [b["title"] for b in server.resources("books", "t1")] == ["Only", "New"]
        server.reset()
        assert [b["id"] for b in remote.resources("books", "t1")] == ["1", "2", "3"]


@pytest.mark.parametrize(("method", "path", "body", "status", "detail"), [
    ("GET", "/__mock/resources/films", None, 404,
     "no collection named 'films'; declared by the loaded scenarios: 'books'"),
    ("PUT", "/__mock/resources/books", {"items": [{"title": "no id"}]}, 400,
     "items[0]: found no 'id'; expected every item to have one"),
    ("PUT", "/__mock/resources/books", {"items": [{"id": 1}, {"id": "1"}]}, 400,
     "items[1]: found id '1' again; expected unique ids"),
    ("PUT", "/__mock/resources/books", {"items": "all"}, 400, None),
])
def test_bad_calls_say_what_is_wrong_and_change_nothing(method: str, path: str, body: object, status: int,
                                                        detail: str | None) -> None:
    with MockServer([CRUD], port=0) as server, httpx.Client(base_url=server.url, timeout=5) as http:
        r = http.request(method, path, json=body)
        assert r.status_code == status
        if detail is not None:
            assert r.json()["detail"] == detail
        assert len(server.resources("books")) == 3
