"""Stateful resources in the state backend: one collection for every replica on one Redis.

The semantics suite runs on both backends (the ``state`` fixture); the replica tests run real
``mockserver serve`` processes on separate ports sharing one redis-server (processes.py).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from mockserver import MockServer
from mockserver.backend import STATE_UNAVAILABLE, StateUnavailable
from mockserver.resources import CollectionState, new_id, seeded
from mockserver.scenario import load_text
from mockserver.wire import redis_state
from mockserver.wire.redis_state import RESOURCE_TRIES, RedisBackend

from .conftest import RedisProcess, running_redis
from .processes import serve_replicas

SCENARIO = """\
name: clusters
seed: 7
resources:
  clusters:
    ids: int
    unique: [name]
    seed:
      - {id: "1", name: seeded, status: available}
rules:
  - match: {method: POST, path: /clusters}
    resource:
      collection: clusters
      action: create
      item: {name: "{{ json.name }}", status: creating}
      lifecycle: [{after: 30s, set: {status: available}}]
    respond: {status: 201, json: "{{ item }}"}
  - match: {method: GET, path: /clusters}
    resource: {collection: clusters, action: list}
    respond: {json: {total: "{{ collection.total }}", clusters: "{{ collection.items }}"}}
  - match: {method: GET, path: "/clusters/{id}"}
    resource: {collection: clusters, action: show, id: "{{ path.id }}"}
    respond: {json: "{{ item }}"}
  - match: {method: PATCH, path: "/clusters/{id}"}
    resource: {collection: clusters, action: update, id: "{{ path.id }}"}
    respond: {json: "{{ item }}"}
  - match: {method: DELETE, path: "/clusters/{id}"}
    resource: {collection: clusters, action: delete, id: "{{ path.id }}"}
    respond: {status: 204}
"""

UUIDS = """\
name: notes
seed: 3
resources: {notes: {}}
rules:
  - match: {method: POST, path: /notes}
    resource: {collection: notes, action: create}
    respond: {status: 201, json: "{{ item }}"}
"""


async def call(client: aiohttp.ClientSession, method: str, url: str,
               body: Any = None) -> tuple[int, Any]:
    async with client.request(method, url, json=body) as resp:
        raw = await resp.read()
        return resp.status, json.loads(raw) if raw else None


async def test_crud_lifecycle_and_conflicts_behave_the_same(state: dict[str, Any]) -> None:
    async with MockServer([load_text(SCENARIO)], **state) as server, aiohttp.ClientSession() as c:
        await server.backend.reset(clock=True)
        await server.backend.freeze(0)
        url = server.url_for
        assert await call(c, "POST", url("/clusters"), {"name": "a"}) == (
            201, {"id": "2", "name": "a", "status": "creating"})
        assert await call(c, "POST", url("/clusters"), {"name": "a"}) == (409, {
            "error_code": "CSS.0409", "error_msg": "clusters: name 'a' is taken by 2"})
        status, listed = await call(c, "GET", url("/clusters"))
        assert (status, listed["total"], [i["id"] for i in listed["clusters"]]) == (200, 2, ["1", "2"])
        assert await call(c, "PATCH", url("/clusters/2"), {"name": "b"}) == (
            200, {"id": "2", "name": "b", "status": "creating"})
        assert await call(c, "PATCH", url("/clusters/2"), {"name": "seeded"}) == (409, {
            "error_code": "CSS.0409", "error_msg": "clusters: name 'seeded' is taken by 1"})
        assert await call(c, "GET", url("/clusters/9")) == (404, {
            "error_code": "CSS.0404", "error_msg": "clusters: no item 9"})
        await server.backend.advance(29.5)
        assert (await call(c, "GET", url("/clusters/2")))[1]["status"] == "creating"
        await server.backend.advance(0.5)
        assert (await call(c, "GET", url("/clusters/2")))[1]["status"] == "available"
        assert await call(c, "DELETE", url("/clusters/1")) == (204, None)
        assert await call(c, "GET", url("/clusters/1")) == (404, {
            "error_code": "CSS.0404", "error_msg": "clusters: no item 1"})
        assert await server.resources_async("clusters") == [{"id": "2", "name": "b", "status": "available"}]
        # the next int id follows the stored count: the refused create used 3, so 4 (as in memory)
        assert (await call(c, "POST", url("/clusters"), {"name": "c"}))[1]["id"] == "4"
        # sessions are separate worlds; a session's reset brings its seed back
        status, other = await call(c, "GET", url("/__mock/resources/clusters?session=t1"))
        assert other["items"] == [{"id": "1", "name": "seeded", "status": "available"}]
        await server.backend.reset()
        assert [i["id"] for i in await server.resources_async("clusters")] == ["1"]


async def test_seeded_uuids_are_the_same_on_both_backends(state: dict[str, Any]) -> None:
    """made is in the stored value: the same seed, session and order make the same ids."""
    async with MockServer([load_text(UUIDS)], **state) as server, aiohttp.ClientSession() as c:
        ids = [(await call(c, "POST", server.url_for("/notes"), {"n": n}))[1]["id"] for n in range(3)]
    spec = load_text(UUIDS).resources[0]
    reference = seeded(spec)
    assert ids == [new_id(spec, reference, 3, "") for _ in range(3)]


async def test_put_through_the_control_api_and_its_errors(state: dict[str, Any]) -> None:
    async with MockServer([load_text(SCENARIO)], **state) as server, aiohttp.ClientSession() as c:
        put = server.url_for("/__mock/resources/clusters")
        assert await call(c, "PUT", put, {"items": [{"id": "x", "name": "x"}, {"name": "y"}]}) == (400, {
            "error": "bad_request", "detail": "items[1]: found no 'id'; expected every item to have one"})
        status, body = await call(c, "PUT", put, {"items": [{"id": "x", "name": "x"}]})
        assert (status, body["items"]) == (200, [{"id": "x", "name": "x"}])
        assert (await call(c, "GET", server.url_for("/clusters/x")))[0] == 200
        assert (await call(c, "GET", server.url_for("/clusters/1")))[0] == 404


def test_a_threaded_server_reads_and_sets_collections_in_redis(redis_server: RedisProcess) -> None:
    state = {"state": redis_server.url, "state_prefix": f"threaded-{uuid.uuid4().hex}"}
    with MockServer([load_text(SCENARIO)], **state) as a, MockServer([load_text(SCENARIO)], **state) as b:
        assert a.set_resources("clusters", [{"id": "z", "name": "zed"}], session="s") == [
            {"id": "z", "name": "zed"}]
        assert b.resources("clusters", session="s") == [{"id": "z", "name": "zed"}]
        with pytest.raises(ValueError, match=r"items\[0\]: found str; expected a JSON object"):
            b.set_resources("clusters", ["z"], session="s")
        assert a.resources("clusters", session="s") == [{"id": "z", "name": "zed"}]


async def test_on_the_servers_own_loop_the_sync_read_says_what_to_await(redis_server: RedisProcess) -> None:
    async with MockServer([load_text(SCENARIO)], state=redis_server.url,
                          state_prefix=f"loop-{uuid.uuid4().hex}") as server:
        with pytest.raises(RuntimeError, match=r"^with --state redis://\.\.\., on the server's own loop, "
                                               r"await server\.resources_async\(\) / set_resources_async\(\) "
                                               r"instead$"):
            server.resources("clusters")


# --- replicas: separate processes on one Redis ---------------------------------------------------


@pytest.fixture
def replicas(redis_server: RedisProcess, tmp_path: Path) -> Iterator[tuple[list[str], str]]:
    path = tmp_path / "clusters.yaml"
    path.write_text(SCENARIO)
    prefix = f"res-{uuid.uuid4().hex}"
    with serve_replicas(redis_server.url, prefix, path) as urls:
        yield urls, prefix


async def test_what_one_replica_creates_the_other_lists_and_shows(
        replicas: tuple[list[str], str]) -> None:
    (a, b), _ = replicas
    async with aiohttp.ClientSession() as c:
        status, made = await call(c, "POST", a + "/clusters", {"name": "on-a"})
        assert status == 201
        status, listed = await call(c, "GET", b + "/clusters")
        assert (status, [i["name"] for i in listed["clusters"]]) == (200, ["seeded", "on-a"])
        assert await call(c, "GET", f"{b}/clusters/{made['id']}") == (200, made)
        assert (await call(c, "POST", b + "/clusters", {"name": "on-a"}))[0] == 409  # unique across both
        assert (await call(c, "DELETE", f"{b}/clusters/{made['id']}"))[0] == 204
        assert (await call(c, "GET", f"{a}/clusters/{made['id']}"))[0] == 404


async def test_concurrent_creates_on_both_replicas_lose_nothing(replicas: tuple[list[str], str]) -> None:
    """The atomicity test: a read-modify-write that is not one check-and-set loses items here."""
    urls, _ = replicas
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as c:
        answers = await asyncio.wait_for(asyncio.gather(*(
            call(c, "POST", urls[i % 2] + "/clusters", {"name": f"c{i}"}) for i in range(200))), 60)
        assert Counter(status for status, _ in answers) == {201: 200}
        made = [body["id"] for _, body in answers]
        assert sorted(made, key=int) == [str(n) for n in range(2, 202)]  # 200 distinct ids, none skipped
        for url in urls:
            status, listed = await call(c, "GET", url + "/clusters")
            assert (status, listed["total"]) == (200, 201)
            assert sorted(i["id"] for i in listed["clusters"][1:]) == sorted(made)


async def test_a_lifecycle_changes_at_the_same_moment_on_both(
        replicas: tuple[list[str], str], redis_server: RedisProcess) -> None:
    (a, b), prefix = replicas
    clock = RedisBackend(redis_server.url, prefix=prefix)
    try:
        await clock.freeze(0)  # the one clock every replica reads
        async with aiohttp.ClientSession() as c:
            _, made = await call(c, "POST", a + "/clusters", {"name": "slow"})
            show = f"/clusters/{made['id']}"
            await clock.advance(29.9)
            assert [(await call(c, "GET", u + show))[1]["status"] for u in (a, b)] == ["creating"] * 2
            status, _ = await call(c, "POST", b + "/__mock/clock/advance", {"seconds": 0.1})
            assert status == 200
            assert [(await call(c, "GET", u + show))[1]["status"] for u in (a, b)] == ["available"] * 2
    finally:
        await clock.close()


async def test_reset_and_put_on_one_replica_are_seen_by_the_other(replicas: tuple[list[str], str]) -> None:
    (a, b), _ = replicas
    async with aiohttp.ClientSession() as c:
        assert (await call(c, "POST", a + "/clusters", {"name": "gone-after-reset"}))[0] == 201
        status, _ = await call(c, "POST", b + "/__mock/reset")
        assert status == 200
        for url in (a, b):
            assert (await call(c, "GET", url + "/__mock/resources/clusters"))[1]["items"] == [
                {"id": "1", "name": "seeded", "status": "available"}]
        items = [{"id": "p", "name": "put-on-a"}]
        async with c.put(a + "/__mock/resources/clusters", json={"items": items}) as resp:
            # written once, in Redis: not replayed on B, where it could overwrite a later create
            assert (resp.status, (await resp.json())["items"]) == (200, items)
            assert "X-Mock-Replicas" not in resp.headers
        assert (await call(c, "GET", b + "/__mock/resources/clusters"))[1]["items"] == items
        assert (await call(c, "GET", b + "/clusters/p"))[1] == items[0]
        assert (await call(c, "POST", a + "/__mock/reset"))[0] == 200
        assert (await call(c, "GET", b + "/clusters"))[1]["clusters"] == [
            {"id": "1", "name": "seeded", "status": "available"}]


# --- failures --------------------------------------------------------------------------------------


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """Not the session's: this test stops it."""
    with running_redis() as server:
        yield server


async def test_redis_down_a_resource_rule_gets_the_503(own_redis: RedisProcess) -> None:
    async with MockServer([load_text(SCENARIO)], state=own_redis.url, state_prefix="res-outage") as server, \
            aiohttp.ClientSession() as c:
        assert (await call(c, "POST", server.url_for("/clusters"), {"name": "before"}))[0] == 201
        own_redis.stop()
        for method, path in (("POST", "/clusters"), ("GET", "/clusters"), ("GET", "/clusters/1")):
            async with c.request(method, server.url_for(path), json={"name": "during"}) as resp:
                assert (resp.status, resp.headers["Retry-After"]) == (503, "1")
                assert await resp.json() == {"error_code": "CSS.0503", "error_msg": STATE_UNAVAILABLE}
        status, body = await call(c, "GET", server.url_for("/__mock/resources/clusters"))
        assert (status, body["error"]) == (503, "state_unavailable")
        assert body["detail"].startswith(f"state backend {own_redis.url} unavailable: ")
        status, body = await call(c, "PUT", server.url_for("/__mock/resources/clusters"), {"items": []})
        assert (status, body["error"]) == (503, "state_unavailable")


async def test_a_collection_that_keeps_changing_gives_up_after_its_tries(
        redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer wins every time: bounded retries, then StateUnavailable, and nothing written."""
    monkeypatch.setattr(redis_state, "RESOURCE_PAUSE", 0.001)
    prefix = f"storm-{uuid.uuid4().hex}"
    backend = RedisBackend(redis_server.url, prefix=prefix)
    rival = redis.Redis.from_url(redis_server.url, decode_responses=True)
    calls = 0

    def operate(found: CollectionState | None, now: float) -> tuple[CollectionState, None]:
        nonlocal calls
        calls += 1
        rival.hset(f"{prefix}:s::rv", "c", f"rival-{calls}")  # another replica writes in between
        return CollectionState(made=calls), None

    try:
        with pytest.raises(StateUnavailable) as caught:
            await backend.resource("", "c", operate)
        assert str(caught.value) == (
            f"state backend {redis_server.url}: collection 'c' of session '' was changed by another "
            f"replica during each of {RESOURCE_TRIES} tries; this operation changed nothing")
        assert calls == RESOURCE_TRIES
        assert rival.hget(f"{prefix}:s::r", "c") is None
        assert await backend.healthy() is None  # Redis itself is fine
    finally:
        rival.close()
        await backend.close()


async def test_a_read_that_changes_nothing_writes_nothing(redis_server: RedisProcess) -> None:
    prefix = f"reads-{uuid.uuid4().hex}"
    server_state = {"state": redis_server.url, "state_prefix": prefix}
    rival = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        async with MockServer([load_text(SCENARIO)], **server_state) as server, aiohttp.ClientSession() as c:
            await call(c, "GET", server.url_for("/clusters"))  # first use: the seed is stored
            version = rival.hget(f"{prefix}:s::rv", "clusters")
            for path in ("/clusters", "/clusters/1", "/clusters/nope"):
                await call(c, "GET", server.url_for(path))
            assert await server.resources_async("clusters") == [
                {"id": "1", "name": "seeded", "status": "available"}]
            assert rival.hget(f"{prefix}:s::rv", "clusters") == version
            await call(c, "POST", server.url_for("/clusters"), {"name": "n"})
            assert rival.hget(f"{prefix}:s::rv", "clusters") != version
    finally:
        rival.close()
