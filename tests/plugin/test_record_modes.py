"""`@pytest.mark.mockserver_record` and --mockserver-record-mode, run through pytest by pytester:
none replays, once records what is missing, new_episodes adds what matched nothing, all records again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mockserver import MockServer

pytest_plugins = ["pytester"]

KEY = "key-5f1e9a7c3b2d4e60"
INNER = f"""
import json, os
import pytest, requests

@pytest.mark.mockserver_record("recordings/api.yaml")
def test_api(mockserver):
    seen = {{}}
    for path in os.environ["PATHS"].split(","):
        got = requests.get(mockserver.url_for(path), headers={{"X-Api-Key": "{KEY}"}}, timeout=5)
        seen[path] = [got.status_code, got.json()]
    assert seen == json.loads(os.environ["EXPECT"])
"""


def upstream_scenario(version: str) -> dict[str, Any]:
    return {"name": "up", "rules": [
        {"match": {"path": "/version"}, "respond": {"json": {"v": version}}},
        {"match": {"path": "/extra"}, "respond": {"status": 201, "json": {"extra": version}}},
    ]}


def run(tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, paths: str, expect: dict[str, Any],
        *args: str) -> pytest.RunResult:
    monkeypatch.setenv("PATHS", paths)
    monkeypatch.setenv("EXPECT", json.dumps(expect))
    return tester.runpytest("-p", "no:cacheprovider", *args)


def test_the_modes_one_after_another(tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    tester.makepyfile(test_api=INNER)
    recording = Path(tester.path) / "recordings" / "api.yaml"
    with MockServer(upstream_scenario("v1")) as upstream:
        # none (the default): nothing recorded yet is a one-line failure that says what to do
        result = run(tester, monkeypatch, "/version", {"/version": [200, {"v": "v1"}]})
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines([
            f"*test_api.py::test_api: no recording at {recording}; record it with "
            "--mockserver-record-mode=once (and an upstream: the marker's upstream=, "
            "--mockserver-upstream URL or $MOCKSERVER_UPSTREAM)"])
        assert "Traceback" not in result.stdout.str()
        # once: recorded from the upstream, redacted
        once = ("--mockserver-record-mode=once", f"--mockserver-upstream={upstream.url}")
        v1 = {"/version": [200, {"v": "v1"}]}
        run(tester, monkeypatch, "/version", v1, *once).assert_outcomes(passed=1)
        assert recording.exists() and KEY not in recording.read_text()
        asked = len(upstream.journal.entries())
        assert asked == 1 and upstream.journal.entries()[0].headers["X-Api-Key"] == KEY
        upstream.load(upstream_scenario("v2"))
        # once again, and none: the file exists, so it answers; the upstream is not asked
        for mode in ("once", "none"):
            run(tester, monkeypatch, "/version", {"/version": [200, {"v": "v1"}]},
                f"--mockserver-record-mode={mode}", f"--mockserver-upstream={upstream.url}"
                ).assert_outcomes(passed=1)
        assert len(upstream.journal.entries()) == asked
        # new_episodes: what the file answers stays; what it does not is recorded and added
        monkeypatch.setenv("MOCKSERVER_UPSTREAM", upstream.url)
        run(tester, monkeypatch, "/version,/extra", {"/version": [200, {"v": "v1"}],
                                                     "/extra": [201, {"extra": "v2"}]},
            "--mockserver-record-mode=new_episodes").assert_outcomes(passed=1)
        assert [e.path for e in upstream.journal.entries()][asked:] == ["/extra"]
    # the upstream is gone: the extended recording answers both
    run(tester, monkeypatch, "/version,/extra", {"/version": [200, {"v": "v1"}],
                                                 "/extra": [201, {"extra": "v2"}]}).assert_outcomes(passed=1)
    assert KEY not in recording.read_text()
    # all: recorded again from scratch, from the marker's upstream
    with MockServer(upstream_scenario("v3")) as upstream:
        tester.makepyfile(test_api=INNER.replace('"recordings/api.yaml"',
                                                 f'"recordings/api.yaml", upstream="{upstream.url}"'))
        monkeypatch.delenv("MOCKSERVER_UPSTREAM")
        run(tester, monkeypatch, "/version", {"/version": [200, {"v": "v3"}]},
            "--mockserver-record-mode=all").assert_outcomes(passed=1)
    text = recording.read_text()
    assert "v3" in text and "v1" not in text and "/extra" not in text


def test_recording_without_an_upstream_says_where_to_give_one(tester: pytest.Pytester,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOCKSERVER_UPSTREAM", raising=False)
    tester.makepyfile(test_api=INNER)
    result = run(tester, monkeypatch, "/version", {}, "--mockserver-record-mode=all")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_api.py::test_api: record mode all needs an upstream to record "
                                 "from: upstream= in the marker, --mockserver-upstream URL or "
                                 "$MOCKSERVER_UPSTREAM"])


@pytest.mark.parametrize(("marker", "message"), [
    ('mode="sometimes"', "record mode: found 'sometimes'; expected one of none, once, new_episodes, all"),
    ('upstream="127.0.0.1:1"', "upstream: found '127.0.0.1:1'; expected an http:// or https:// URL "
                               "without query or fragment, such as http://127.0.0.1:8000"),
    ('cassette="x.yaml"', "@pytest.mark.mockserver_record: found 'cassette'; expected "
                          "mockserver_record([path], upstream=URL, mode=none|once|new_episodes|all)"),
])
def test_a_bad_marker_is_one_line(tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, marker: str,
                                  message: str) -> None:
    tester.makepyfile(test_api=INNER.replace('"recordings/api.yaml"', f'"recordings/api.yaml", {marker}')
                      if "cassette" not in marker else INNER.replace('"recordings/api.yaml"', marker))
    result = run(tester, monkeypatch, "/version", {})
    result.assert_outcomes(errors=1)
    assert f"\ntest_api.py::test_api: {message}\n" in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_the_journal_of_a_recording_test_holds_no_secret(tester: pytest.Pytester,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    tester.makepyfile(test_journal=f"""
import pytest, requests

@pytest.mark.mockserver_record("recordings/j.yaml")
def test_journal(mockserver):
    requests.get(mockserver.url_for("/version?token={KEY}"), headers={{"Authorization": "Bearer {KEY}"}},
                 timeout=5)
    journal = requests.get(mockserver.url_for("/__mock/journal"), timeout=5).text
    assert "{KEY}" not in journal and "<redacted:authorization:" in journal
    assert [e.query_string for e in mockserver.entries()] == ["token=<redacted:authorization:1>"]
""")
    with MockServer(upstream_scenario("v1")) as upstream:
        result = tester.runpytest("-p", "no:cacheprovider", "--mockserver-record-mode=once",
                                  f"--mockserver-upstream={upstream.url}")
    result.assert_outcomes(passed=1)
    assert KEY not in (Path(tester.path) / "recordings" / "j.yaml").read_text()
