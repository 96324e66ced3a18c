"""One control surface: MockServer and RemoteMockServer answer the same Controls calls alike."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from mockserver import MockServer
from mockserver.control.remote import RemoteMockServer
from mockserver.controls import Controls
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
