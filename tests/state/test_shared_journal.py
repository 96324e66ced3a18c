"""One journal for every replica: with --state redis://, each replica's GET /__mock/journal,
wait_for and the in-process journal hold every replica's requests, each exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp
import requests

from mockserver import MockServer
from mockserver.control.remote import RemoteMockServer

from .conftest import RedisProcess
from .processes import serve_replicas

SCENARIO = """\
name: journal
rules:
  - name: static
    match: {path: /static}
    respond: {status: 200}
  - name: flaky
    match: {path: /flaky}
    respond:
      - {status: 503, repeat: 3}
      - {status: 200}
"""


async def spread(urls: list[str], paths: list[str], count: int) -> list[str]:
    """*count* concurrent requests alternating between replicas and paths; the X-Request-Id of each."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as client:
        async def one(i: int) -> str:
            async with client.get(urls[i % len(urls)] + paths[i % len(paths)] + f"?i={i}") as resp:
                await resp.read()
                return resp.headers["X-Request-Id"]

        return list(await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), 120))


async def test_every_replica_journals_every_request_once(redis_server: RedisProcess, tmp_path: Path) -> None:
    path = tmp_path / "journal.yaml"
    path.write_text(SCENARIO)
    with serve_replicas(redis_server.url, f"journal-{uuid.uuid4().hex}", path) as urls:
        sent = await spread(urls, ["/static", "/flaky", "/static", "/missing"], 3000)
        assert len(set(sent)) == 3000
        for url in urls:
            journal = RemoteMockServer(url).journal
            await journal.wait_for_async(3000, timeout=30)
            entries = journal.entries()
            assert sorted(e.request_id for e in entries) == sorted(sent)  # each once, none else
            arrivals = [e.arrived for e in entries]
            assert arrivals == sorted(arrivals)  # in arrival order, whichever replica served it
            assert len({e.seq for e in entries}) == 3000
            assert sum(e.status == 503 for e in entries) == 3  # the shared counter, seen in one place
            got = requests.get(url + "/__mock/journal", params={"path": "/missing", "limit": "0"}, timeout=10)
            assert got.json()["count"] == 750  # the filters run on the whole mock's journal


async def test_a_clear_on_one_replica_clears_them_all(redis_server: RedisProcess, tmp_path: Path) -> None:
    path = tmp_path / "journal.yaml"
    path.write_text(SCENARIO)
    with serve_replicas(redis_server.url, f"journal-{uuid.uuid4().hex}", path) as urls:
        a, b = (RemoteMockServer(url) for url in urls)
        await spread(urls, ["/static"], 40)
        await a.journal.wait_for_async(40, timeout=10)
        b.clear_journal()
        deadline = time.monotonic() + 5
        while len(a.journal.entries()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert a.journal.entries() == [] and b.journal.entries() == []
        await spread(urls, ["/static"], 10)  # what comes after the clear is journaled again, on both
        assert len(await a.journal.wait_for_async(10, timeout=10)) == 10
        assert len(await b.journal.wait_for_async(10, timeout=10)) == 10


def test_in_process_servers_share_one_journal(redis_server: RedisProcess) -> None:
    state = {"state": redis_server.url, "state_prefix": f"journal-{uuid.uuid4().hex}"}
    scenario = {"name": "j", "rules": [{"match": {"path": "/x"}, "respond": {"status": 204}}]}
    with MockServer(scenario, **state) as a, MockServer(scenario, **state) as b:
        for server in (a, b, b):
            assert requests.get(server.url_for("/x"), timeout=10).status_code == 204
        for server in (a, b):  # the pytest plugin's assertions read this journal
            found = server.journal.wait_for(3, timeout=10, path="/x")
            assert len(found) == 3
        time.sleep(0.2)  # nothing arrives twice later on
        assert a.journal.count(path="/x") == b.journal.count(path="/x") == 3
