"""MOCKSERVER_URL: the same fixtures drive a real ``mockserver serve`` process over its control API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockserver.control.remote import ControlAPIError, RemoteMockServer

pytest_plugins = ["pytester"]

TOKEN = "plugin-test-token"  # a throwaway token for a loopback server
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``mockserver serve --port 0`` subprocess with one base scenario and an admin token."""
    folder = tmp_path_factory.mktemp("served")
    (folder / "base.yaml").write_text(
        "name: base\nrules:\n  - name: health\n    match: {path: /health}\n    respond: {body: up}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", str(folder / "base.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "MOCKSERVER_ADMIN_TOKEN": TOKEN})
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = proc.stdout.readline()
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert found, f"unexpected first line {line!r}"
        yield found.group(1)
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture
def remote_tester(tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, served: str) -> pytest.Pytester:
    monkeypatch.setenv("MOCKSERVER_URL", served)
    monkeypatch.setenv("MOCKSERVER_ADMIN_TOKEN", TOKEN)
    return tester


def test_the_same_tests_run_against_an_external_server(remote_tester: pytest.Pytester, served: str) -> None:
    """Marker scenarios, per-test reset, journal queries, assertions and strict mode, over HTTP."""
    remote_tester.path.joinpath("flaky.yaml").write_text(
        "name: flaky\nrules:\n  - name: get\n    match: {path: /thing}\n"
        "    respond: [{status: 503, repeat: 2}, {status: 200}]\n")
    remote_tester.makepyfile(f"""
import pytest, requests

def get(mockserver, path):
    s = requests.Session(); s.trust_env = False
    return s.get(mockserver.url_for(path), timeout=5).status_code

@pytest.mark.mockserver(scenario="flaky.yaml", seed=3)
def test_marker_scenario_over_the_control_api(mockserver):
    assert mockserver.server is None and mockserver.url == {served!r}
    assert [get(mockserver, "/thing") for _ in range(3)] == [503, 503, 200]
    mockserver.assert_called("get", times=3)
    assert [e.status for e in mockserver.wait_for(3, rule="flaky/get")] == [503, 503, 200]
    assert len(mockserver.intervals(rule="get")) == 2
    mockserver.assert_no_request_after(status=200)
    mockserver.set_state("door", "open")
    assert mockserver.states() == {{"door": "open"}}
    mockserver.advance(5)

def test_next_test_starts_clean(mockserver):
    assert mockserver.entries() == []
    assert mockserver.states() == {{}}
    assert get(mockserver, "/thing") == 404          # flaky was removed
    assert get(mockserver, "/health") == 200         # the container's own scenario stays

@pytest.mark.mockserver(strict=True)
def test_strict_over_the_control_api(mockserver):
    assert get(mockserver, "/nowhere") == 404

async def test_async_wait(mockserver):
    import httpx
    async with httpx.AsyncClient(trust_env=False) as client:
        await client.get(mockserver.url_for("/health"))
    [entry] = await mockserver.wait_for_async(1, path="/health")
    assert entry.rule == "base/health"
""")
    result = remote_tester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["strict mockserver: 1 request(s) matched no rule:",
                                 "  #1 +0.000s GET /nowhere -> 404 NotFound (no rule, unmatched)",
                                 "      near miss base/health (*): path: expected /health, got /nowhere"])
    remote = RemoteMockServer(served, token=TOKEN)
    assert [s["name"] for s in remote.scenarios()] == ["base"]


def test_an_unreachable_server_stops_the_run_with_the_reason(tester: pytest.Pytester,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKSERVER_URL", "http://127.0.0.1:9")
    tester.makepyfile("def test_it(mockserver):\n    pass\n")
    result = tester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*MOCKSERVER_URL=http://127.0.0.1:9: the mockserver there is not usable: "
                                 "GET http://127.0.0.1:9/__mock/health failed: *"])


def test_a_wrong_token_is_reported_with_the_servers_answer(served: str) -> None:
    with pytest.raises(ControlAPIError, match=r"^POST /__mock/reset answered 401: unauthorized: "):
        RemoteMockServer(served, token="wrong").reset()


def test_remote_refuses_loaded_scenario_objects(remote_tester: pytest.Pytester) -> None:
    """A compiled Scenario cannot travel over HTTP: the message says to pass its file or dict."""
    remote_tester.makepyfile("""
from mockserver import load_scenario

def test_it(mockserver):
    mockserver.load(load_scenario({"name": "x", "rules": [{"respond": {}}]}))
""")
    result = remote_tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*TypeError: a loaded Scenario ('x') cannot be sent to an external "
                                 "mockserver; pass its file or dict"])


def test_the_client_covers_what_the_fixtures_need(served: str, tmp_path: Path) -> None:
    """Folders, replace, remove, state, seed, clock and the journal, each one control API call."""
    (tmp_path / "a.yaml").write_text("name: a\nrules:\n  - {name: one, match: {path: /a}, respond: {}}\n")
    (tmp_path / "b.json").write_text('{"name": "b", "rules": [{"name": "two", "match": {"path": "/b"}}]}')
    remote = RemoteMockServer(served, token=TOKEN)
    try:
        assert remote.load(tmp_path) == ["a", "b"]
        assert {s["name"] for s in remote.scenarios()} == {"base", "a", "b"}
        assert remote.remove("a") is True and remote.remove("a") is False
        remote.set_state("door", "open", session="s1")
        assert remote.states("s1") == {"door": "open"} and remote.states() == {}
        remote.set_seed(5)
        remote.advance(1.5)
        remote.reset()
        assert remote.journal.entries() == []
        refused = r"^POST /__mock/scenarios answered 422: invalid_scenario: .*unknown field 'statuss'"
        with pytest.raises(ControlAPIError, match=refused):
            remote.load({"name": "bad", "rules": [{"respond": {"statuss": 200}}]})
    finally:
        remote.replace(tmp_path / "a.yaml")
        assert remote.replace({"name": "base", "rules": [{"name": "health", "match": {"path": "/health"},
                                                          "respond": {"body": "up"}}]}) == ["base"]
        remote.set_seed(None)
    assert [s["name"] for s in remote.scenarios()] == ["base"]


def test_what_a_test_removes_or_replaces_remotely_is_put_back(remote_tester: pytest.Pytester,
                                                              served: str) -> None:
    """remove() and a load() under a session scenario's name last one test, as they do in-process."""
    remote_tester.makeconftest("""
import pytest

@pytest.fixture(scope="session")
def mockserver_scenarios():
    return [{"name": "session",
             "rules": [{"name": "s", "match": {"path": "/s"}, "respond": {"body": "session"}}]}]
""")
    remote_tester.makepyfile("""
import requests

def body(mockserver, path):
    s = requests.Session(); s.trust_env = False
    r = s.get(mockserver.url_for(path), timeout=5)
    return r.status_code, r.text

def test_changes_everything(mockserver):
    assert mockserver.remove("base") is True
    mockserver.load({"name": "session", "rules": [{"match": {"path": "/s"}, "respond": {"body": "mine"}}]})
    assert body(mockserver, "/health")[0] == 404 and body(mockserver, "/s") == (200, "mine")

def test_finds_what_the_session_had(mockserver):
    assert body(mockserver, "/health") == (200, "up")
    assert body(mockserver, "/s") == (200, "session")
""")
    result = remote_tester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    remote = RemoteMockServer(served, token=TOKEN)
    assert [s["name"] for s in remote.scenarios()] == ["base"]  # the session's own scenario went too


def test_a_snapshot_is_restored_once(served: str) -> None:
    remote = RemoteMockServer(served, token=TOKEN)
    snapshot = remote.snapshot()
    remote.load({"name": "extra", "rules": [{"respond": {}}]})
    assert remote.restore(snapshot) == ["base"]
    assert [s["name"] for s in remote.scenarios()] == ["base"]
    with pytest.raises(ControlAPIError, match=rf"^POST /__mock/snapshots/{snapshot}/restore answered 404: "
                                              rf"unknown_snapshot: no snapshot '{snapshot}'; kept: "):
        remote.restore(snapshot)


def test_remote_entries_have_the_same_headers_as_local_ones(remote_tester: pytest.Pytester) -> None:
    """A repeated header keeps every value, read in any case, with getall, as in-process."""
    remote_tester.makepyfile("""
import http.client
from urllib.parse import urlsplit

from mockserver.journal import WireHeaders

def test_it(mockserver):
    conn = http.client.HTTPConnection(urlsplit(mockserver.url).netloc, timeout=5)
    conn.putrequest("GET", "/health")
    conn.putheader("X-Tag", "a")
    conn.putheader("x-tag", "b")
    conn.endheaders()
    assert conn.getresponse().status == 200
    conn.close()
    [entry] = mockserver.entries(path="/health")
    assert isinstance(entry.headers, WireHeaders)
    assert entry.headers.getall("X-TAG") == ["a", "b"] and entry.headers["x-tag"] == "a"
    assert entry.header_pairs()[-2:] == [("X-Tag", "a"), ("x-tag", "b")]
""")
    remote_tester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)


def test_plugin_errors_are_one_line_without_the_plugins_source(remote_tester: pytest.Pytester) -> None:
    """A misspelt marker argument or a refused scenario errors its test (only it) in one line, no frames."""
    remote_tester.makepyfile("""
import pytest

@pytest.mark.mockserver(sede=3)
def test_misspelt(mockserver):
    pass

def test_fine(mockserver):
    pass

@pytest.mark.mockserver(scenario={"name": "bad", "rules": [{"respond": {"statuss": 200}}]})
def test_refused_scenario(mockserver):
    pass
""")
    result = remote_tester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines([
        "*ERROR at setup of test_refused_scenario*",
        "mockserver: POST /__mock/scenarios answered 422: invalid_scenario: <body>:1:*: "
        "rules?0?.respond.statuss: unknown field *",  # fnmatch: [0] would be a character class
        "*short test summary*"], consecutive=True)
    result.stdout.fnmatch_lines([
        "test_plugin_errors_are_one_line_without_the_plugins_source.py::test_misspelt: "
        "@pytest.mark.mockserver got unknown argument 'sede' (did you mean 'seed'?); "
        "valid arguments: fast, scenario, seed, strict",
        "*ERROR at setup of test_refused_scenario*"], consecutive=True)
    assert "pytest_plugin.py" not in result.stdout.str() and "def mockserver(" not in result.stdout.str()


def test_an_unreachable_server_fails_each_test_in_one_line(tester: pytest.Pytester,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKSERVER_URL", "http://127.0.0.1:9")
    tester.makepyfile("def test_one(mockserver):\n    pass\n\ndef test_two(mockserver):\n    pass\n")
    result = tester.runpytest("-p", "no:randomly")
    result.assert_outcomes(errors=2)
    out = result.stdout.str()
    line = ("MOCKSERVER_URL=http://127.0.0.1:9: the mockserver there is not usable: "
            "GET http://127.0.0.1:9/__mock/health failed: *")
    result.stdout.fnmatch_lines(["*ERROR at setup of test_one*", line, "*ERROR at setup of test_two*", line,
                                 "*short test summary*"], consecutive=True)
    assert "pytest_plugin.py" not in out and "remote.py" not in out and "def mockserver_session(" not in out


@pytest.mark.parametrize("where", ["in-process", "remote"])
def test_load_takes_paths_from_the_working_directory_and_the_marker_from_the_test_file(
        tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, served: str, where: str) -> None:
    """What docs/pytest.md says: load("x.yaml") is from the cwd; the marker looks next to the test first."""
    if where == "remote":
        monkeypatch.setenv("MOCKSERVER_URL", served)
        monkeypatch.setenv("MOCKSERVER_ADMIN_TOKEN", TOKEN)
    sub = tester.mkdir("sub")
    (sub / "here.yaml").write_text("name: here\nrules:\n  - {name: h, match: {path: /h}, respond: {}}\n")
    (sub / "test_paths.py").write_text("""
from pathlib import Path
import pytest

@pytest.mark.mockserver(scenario="here.yaml")
def test_marker_finds_the_file_next_to_the_test(mockserver):
    mockserver.assert_not_called("here/h")

def test_load_is_from_the_working_directory(mockserver):
    assert mockserver.load("sub/here.yaml") == ["here"]
    assert mockserver.load(Path(__file__).parent / "here.yaml") == ["here"]
    with pytest.raises(Exception, match="here.yaml"):
        mockserver.load("here.yaml")
""")
    tester.runpytest("-p", "no:randomly", "sub").assert_outcomes(passed=2)


def test_assert_not_called_on_a_rule_the_server_lacks_says_so(remote_tester: pytest.Pytester) -> None:
    """As docs/pytest.md says: an unknown rule is refused (a typo must not pass); a filter works instead."""
    remote_tester.makepyfile("""
def test_unknown_rule(mockserver):
    mockserver.assert_not_called("helth")

def test_a_filter_instead(mockserver):
    mockserver.assert_not_called(path="/orders")
""")
    result = remote_tester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*MockAssertionError: no loaded rule is called 'helth' "
                                 "(did you mean 'health'?); loaded rules: base/health"])
