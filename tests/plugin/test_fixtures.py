"""Fixtures: installed by the entry point, one server per session, reset between tests, factories."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

FLAKY = """
FLAKY = {"name": "flaky", "rules": [{"name": "get", "match": {"path": "/thing"},
         "respond": [{"status": 503, "repeat": 2}, {"status": 200, "json": {"ok": True}}]}]}
"""


def test_installing_the_package_makes_the_fixtures_and_options_available(tester: pytest.Pytester) -> None:
    """A plain pytest process (plugins autoloaded) lists our fixtures and command-line options."""
    out = tester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider").stdout.str()
    assert "plugins: " in out and "mockserver-" in out
    for line in ("mockserver -- ", "mockserver_factory -- ", "mockserver_session [session scope] -- ",
                 "mockserver_scenarios [session scope] -- "):
        assert f"\n{line}" in out, line
    assert "The session's server, reset for this test, with this test's marker applied." in out
    help_text = tester.runpytest("--help").stdout.str()
    assert "--mockserver-fast=FACTOR" in help_text and "--mockserver-strict" in help_text
    assert "--mockserver-url=URL" in help_text
    markers = tester.runpytest("--markers").stdout.str()
    assert "@pytest.mark.mockserver(scenario=None, seed=None, strict=False, fast=None)" in markers


def test_loading_the_plugin_imports_neither_aiohttp_nor_pydantic() -> None:
    """Every pytest run loads the plugin; the server's dependencies wait until a fixture is used."""
    heavy = ("aiohttp", "pydantic", "yaml", "mockserver.wire.server")
    loaded = python(f"import sys, mockserver.pytest_plugin; print([m for m in {heavy} if m in sys.modules])")
    assert loaded == "[]"


def test_the_package_still_exports_everything_lazily() -> None:
    found = python("import mockserver; print(all(getattr(mockserver, n) for n in mockserver.__all__))")
    assert found == "True"


def python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def test_one_server_per_session_reset_before_each_test(tester: pytest.Pytester) -> None:
    """Sequences, states, the journal and scenarios loaded by a test do not leak into the next."""
    tester.makepyfile(FLAKY + """
import requests

seen = []

def get(mockserver):
    s = requests.Session(); s.trust_env = False
    return s.get(mockserver.url_for("/thing"), timeout=5).status_code

def test_first(mockserver):
    seen.append(mockserver.url)
    mockserver.load(FLAKY)
    mockserver.set_state("door", "open")
    assert [get(mockserver) for _ in range(3)] == [503, 503, 200]
    assert mockserver.count(rule="get") == 3

def test_second_starts_over(mockserver):
    seen.append(mockserver.url)
    assert mockserver.server.scenarios == ()      # test_first's scenario was removed
    assert mockserver.states() == {}
    assert mockserver.entries() == []
    mockserver.load(FLAKY)
    assert get(mockserver) == 503                 # the sequence starts again

def test_same_server_throughout():
    assert len(set(seen)) == 1
""")
    tester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_session_scenarios_come_from_an_overridable_fixture(tester: pytest.Pytester) -> None:
    """mockserver_scenarios (session) is served in every test and survives per-test changes."""
    tester.makeconftest(FLAKY + """
import pytest

@pytest.fixture(scope="session")
def mockserver_scenarios():
    return [FLAKY]
""")
    tester.makepyfile("""
def test_replace_for_one_test(mockserver):
    mockserver.server.replace({"name": "other", "rules": [{"respond": {"status": 204}}]})
    assert [s.name for s in mockserver.server.scenarios] == ["other"]

def test_session_scenarios_are_back(mockserver):
    assert [s.name for s in mockserver.server.scenarios] == ["flaky"]
""")
    tester.runpytest().assert_outcomes(passed=2)


def test_sync_and_async_clients_use_the_same_threaded_server(tester: pytest.Pytester) -> None:
    """requests in a sync test; aiohttp and httpx in async tests (pytest-asyncio, asyncio_mode=auto)."""
    tester.makepyfile(FLAKY + """
import aiohttp, httpx, pytest, requests

@pytest.mark.mockserver(scenario=FLAKY)
def test_requests(mockserver):
    s = requests.Session(); s.trust_env = False
    assert s.get(mockserver.url_for("/thing"), timeout=5).status_code == 503

@pytest.mark.mockserver(scenario=FLAKY)
async def test_aiohttp(mockserver):
    async with aiohttp.ClientSession() as session:
        for expected in (503, 503, 200):
            async with session.get(mockserver.url_for("/thing")) as resp:
                assert resp.status == expected
    entries = await mockserver.wait_for_async(3, rule="get")
    assert [e.status for e in entries] == [503, 503, 200]

@pytest.mark.mockserver(scenario=FLAKY)
async def test_httpx(mockserver):
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(mockserver.url_for("/thing"))).status_code == 503
    mockserver.assert_called("get", times=1)
""")
    tester.runpytest().assert_outcomes(passed=3)


def test_factory_starts_extra_servers_and_closes_them(tester: pytest.Pytester) -> None:
    """mockserver_factory serves a dict or a file on its own port; every server stops at teardown."""
    tester.path.joinpath("billing.yaml").write_text(
        "name: billing\nrules:\n  - name: pay\n    match: {method: POST, path: /pay}\n"
        "    respond: {status: 202}\n")
    tester.makepyfile(FLAKY + """
import requests, socket

ports = []

def test_two_servers(mockserver, mockserver_factory):
    billing = mockserver_factory("billing.yaml")
    flaky = mockserver_factory(FLAKY, seed=7)
    ports.extend([billing.server.port, flaky.server.port])
    assert len({mockserver.url, billing.url, flaky.url}) == 3
    s = requests.Session(); s.trust_env = False
    assert s.post(billing.url_for("/pay"), timeout=5).status_code == 202
    assert s.get(flaky.url_for("/thing"), timeout=5).status_code == 503
    billing.assert_called("pay", times=1)
    flaky.assert_not_called(method="POST")
    assert flaky.server.seed == 7

def test_they_are_closed():
    for port in ports:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            continue
        raise AssertionError(f"port {port} still accepts connections")
""")
    tester.runpytest().assert_outcomes(passed=2)


def test_a_failing_test_shows_what_the_server_saw(tester: pytest.Pytester) -> None:
    """The failure report has a 'mockserver journal' section: each request, its answer and rule."""
    tester.makepyfile(FLAKY + """
import pytest, requests

@pytest.mark.mockserver(scenario=FLAKY)
def test_client_gives_up_too_soon(mockserver):
    s = requests.Session(); s.trust_env = False
    s.get(mockserver.url_for("/thing"), timeout=5)
    s.get(mockserver.url_for("/nothing"), timeout=5)
    assert False, "the client gave up"
""")
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- mockserver journal -*",
        "  #1 +0.000s GET /thing -> 503 ServiceUnavailable (rule flaky/get)",
        "  #2 +*s GET /nothing -> 404 NotFound (no rule, unmatched)",
        "      near miss flaky/get (<inline>): path: expected /thing, got /nothing",
    ])
