"""One control surface: MockServer and RemoteMockServer answer the same Controls calls alike."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from mockserver import MockServer
from mockserver.backend import MemoryBackend
from mockserver.clock import Clock
from mockserver.control.api import ControlApi, ControlSettings
from mockserver.control.remote import RemoteMockServer
from mockserver.controls import Controls
from mockserver.journal import Journal
from mockserver.scenario import Scenario
from mockserver.state import StateStore
from tests.control.conftest import serve

SCENARIO = {"name": "s", "rules": [{"name": "r", "match": {"path": "/x"}, "respond": {"status": 200}}]}


@pytest.fixture(params=["local", "remote"])
def mock(request: pytest.FixtureRequest) -> Iterator[tuple[Controls, str]]:
    if request.param == "local":
        server = MockServer(port=0)
        server.start_in_thread()
        try:
            yield server, server.url
        finally:
            server.stop_thread()
    else:
        with serve() as served:
            yield RemoteMockServer(served.url), served.url


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_both_servers_implement_controls() -> None:
    assert isinstance(MockServer(port=0), Controls)
    assert isinstance(RemoteMockServer("http://127.0.0.1:1"), Controls)


def test_the_same_calls_do_the_same_things(mock: tuple[Controls, str]) -> None:
    controls, url = mock
    controls.replace(SCENARIO)
    assert _status(f"{url}/x") == 200
    stored = controls.add_fault({"name": "down", "match": {"path": "/x"}, "respond": {"status": 503}})
    assert stored["name"] == "down"
    assert [f["name"] for f in controls.list_faults()] == ["down"]
    assert _status(f"{url}/x") == 503
    assert controls.remove_fault("down") is True
    assert controls.remove_fault("down") is False
    controls.add_fault({"name": "again", "respond": {"status": 502}})
    controls.clear_faults()
    assert controls.list_faults() == []
    assert _status(f"{url}/x") == 200
    controls.set_state("door", "open", "s1")
    assert controls.states("s1") == {"door": "open"}
    controls.set_seed(7)
    controls.advance(1.5)
    assert len(controls.journal) >= 3
    controls.clear_journal()
    assert len(controls.journal) == 0
    assert controls.remove("s") is True


def test_the_wire_layer_loads_no_control_plane() -> None:
    """wire/server.py knows nothing of the control API: app/server.py mounts it (no import cycle)."""
    probe = ("import sys, mockserver.wire.server\n"
             "print(sorted(m for m in sys.modules if m.startswith(('mockserver.control', 'mockserver.app',"
             " 'mockserver.dashboard'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          check=True)
    assert done.stdout.strip() == "[]"


class _Target:
    """A control target that is no server at all: the control API needs only ControlTarget."""

    def __init__(self) -> None:
        self.journal = Journal(10)
        self.reload_error: str | None = "a.yaml:1:1: bad"
        self.calls: list[tuple[Any, ...]] = []
        self._seed: int | None = None
        self._now = 0.0
        self.url = "http://127.0.0.1:1"
        self.shared_state = None
        self.backend = MemoryBackend(StateStore(), Clock(), 1.0)  # health asks where the state lives

    def url_for(self, path: str) -> str:
        return self.url + path

    @property
    def scenarios(self) -> tuple[Scenario, ...]:
        return ()

    @property
    def seed(self) -> int | None:
        return self._seed

    def now(self) -> float:
        return self._now

    def metrics_text(self) -> str:
        return "mock_metric 1\n"

    def load(self, *sources: Any) -> list[Any]:
        return []

    def replace(self, *sources: Any) -> list[Any]:
        return []

    def remove(self, name: str) -> bool:
        return False

    def reset(self, session: str | None = None) -> None:
        self.calls.append(("reset", session))

    def states(self, session: str = "") -> dict[str, str]:
        return {"door": "open"} if session == "s1" else {}

    def set_state(self, name: str, value: str, session: str = "") -> None:
        self.calls.append(("set_state", name, value, session))

    def set_seed(self, seed: int | None) -> None:
        self._seed = seed

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def add_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        return {"name": "f", **spec}

    def remove_fault(self, name: str) -> bool:
        return False

    def list_faults(self) -> list[dict[str, Any]]:
        return []

    def clear_faults(self) -> None:
        pass

    def clear_journal(self) -> None:
        self.calls.append(("clear_journal",))


async def test_the_control_api_drives_any_control_target() -> None:
    target = _Target()
    api = ControlApi(target, ControlSettings(max_body_size=1024))
    runner = web.ServerRunner(web.Server(api.dispatch))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}/__mock"
    try:
        async with aiohttp.ClientSession() as client:
            async with client.get(f"{base}/health") as resp:
                assert (resp.status, (await resp.json())["reload_error"]) == (200, "a.yaml:1:1: bad")
            async with client.post(f"{base}/seed", json={"seed": 7}) as resp:
                assert await resp.json() == {"seed": 7}
            async with client.post(f"{base}/clock/advance", json={"seconds": 2.5}) as resp:
                assert await resp.json() == {"now": 2.5}
            state = {"name": "door", "value": "open", "session": "s1"}
            async with client.put(f"{base}/state", json=state) as resp:
                assert await resp.json() == {"states": {"door": "open"}}
            async with client.delete(f"{base}/journal") as resp:
                assert resp.status == 200
            async with client.post(f"{base}/reset?session=s1") as resp:
                assert resp.status == 200
            async with client.get(f"{base}/metrics") as resp:
                assert await resp.text() == "mock_metric 1\n"
            async with client.get(f"{base}/ui") as resp:  # no dashboard was mounted on this one
                assert resp.status == 404
    finally:
        await runner.cleanup()
    assert target.calls == [("set_state", "door", "open", "s1"), ("clear_journal",), ("reset", "s1")]
