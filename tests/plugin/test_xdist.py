"""Under pytest-xdist every worker gets its own session server, and tests stay isolated."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_two_workers_each_serve_their_own_tests(tester: pytest.Pytester,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # only the plugins this run needs, named by entry point: the others cost seconds per worker here
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    tester.makepyfile(f"""
import pathlib, pytest, requests

FLAKY = {{"name": "flaky", "rules": [{{"name": "get", "match": {{"path": "/thing"}},
         "respond": [{{"status": 503}}, {{"status": 200}}]}}]}}
OUT = pathlib.Path({str(tester.path)!r})

@pytest.mark.parametrize("n", range(8))
@pytest.mark.mockserver(scenario=FLAKY, strict=True)
def test_sequence_starts_fresh(mockserver, worker_id, n):
    s = requests.Session(); s.trust_env = False
    assert [s.get(mockserver.url_for("/thing"), timeout=5).status_code for _ in range(2)] == [503, 200]
    mockserver.assert_called("get", times=2)
    (OUT / f"{{worker_id}}-{{n}}.url").write_text(mockserver.url)
""")
    result = tester.runpytest_subprocess("-p", "mockserver", "-p", "xdist.plugin", "-p", "timeout",
                                         "--timeout", "60", "-n", "2", "-p", "no:cacheprovider",
                                         timeout=120)
    result.assert_outcomes(passed=8)
    urls: dict[str, set[str]] = {}
    for found in tester.path.glob("gw*.url"):
        urls.setdefault(found.name.split("-")[0], set()).add(found.read_text())
    assert sorted(urls) == ["gw0", "gw1"]
    assert all(len(u) == 1 for u in urls.values())          # one server per worker for the session
    assert urls["gw0"] != urls["gw1"]
