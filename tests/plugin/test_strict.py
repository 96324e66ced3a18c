"""Strict mode: unmatched requests and server errors fail a test that would otherwise pass."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

ORDERS = """
import pytest, requests

ORDERS = {"name": "orders", "rules": [
    {"name": "show", "match": {"method": "GET", "path": "/orders/{id}"}, "respond": {"json": {}}}]}

def get(server, path, method="GET"):
    s = requests.Session(); s.trust_env = False
    return s.request(method, server.url_for(path), timeout=5).status_code
"""


def test_unmatched_requests_fail_the_test_with_their_near_misses(tester: pytest.Pytester) -> None:
    tester.makepyfile(ORDERS + """
@pytest.mark.mockserver(scenario=ORDERS, strict=True)
def test_client_calls_a_wrong_url(mockserver):
    assert get(mockserver, "/orders/1") == 200
    assert get(mockserver, "/order/1") == 404
""")
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "strict mockserver: 1 request(s) matched no rule:",
        "  #2 +*s GET /order/1 -> 404 NotFound (no rule, unmatched)",
        "      near miss orders/show (<inline>): path: expected /orders/{id}, got /order/1",
    ])


def test_strict_passes_when_every_request_matched(tester: pytest.Pytester) -> None:
    tester.makepyfile(ORDERS + """
@pytest.mark.mockserver(scenario=ORDERS, strict=True)
def test_fine(mockserver):
    assert get(mockserver, "/orders/1") == 200
""")
    tester.runpytest().assert_outcomes(passed=1)


def test_not_strict_by_default_and_on_for_all_with_the_option(tester: pytest.Pytester) -> None:
    tester.makepyfile(ORDERS + """
def test_lenient(mockserver):
    assert get(mockserver, "/nowhere") == 404

@pytest.mark.mockserver(strict=False)
def test_opted_out(mockserver):
    assert get(mockserver, "/nowhere") == 404
""")
    tester.runpytest().assert_outcomes(passed=2)
    tester.runpytest("--mockserver-strict").assert_outcomes(failed=1, passed=1)


def test_server_errors_fail_a_strict_test(tester: pytest.Pytester) -> None:
    """An exception inside the server (outcome=error) is as much a failure as an unmatched request."""
    tester.makepyfile(ORDERS + """
@pytest.mark.mockserver(scenario=ORDERS, strict=True)
def test_server_breaks(mockserver, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("engine exploded")
    monkeypatch.setattr(mockserver.server.engine, "resolve", broken)
    assert get(mockserver, "/orders/1") == 500
""")
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "strict mockserver: 1 request(s) made the server fail:",
        "  #1 +0.000s GET /orders/1 -> 500 InternalServerError"
        " (no rule, error: RuntimeError: engine exploded)",
    ])


def test_factory_servers_can_be_strict_too(tester: pytest.Pytester) -> None:
    """strict= on the factory call, or the test's marker as its default."""
    tester.makepyfile(ORDERS + """
def test_extra_server(mockserver_factory):
    extra = mockserver_factory(ORDERS, strict=True)
    assert get(extra, "/elsewhere") == 404

@pytest.mark.mockserver(strict=True)
def test_marker_makes_factory_servers_strict(mockserver_factory):
    assert get(mockserver_factory(ORDERS), "/elsewhere") == 404

@pytest.mark.mockserver(strict=True)
def test_factory_opts_out(mockserver_factory):
    assert get(mockserver_factory(ORDERS, strict=False), "/elsewhere") == 404
""")
    result = tester.runpytest()
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["*strict mockserver: 1 request(s) matched no rule:",
                                 "*GET /elsewhere -> 404 NotFound (no rule, unmatched)"])
