"""The marker: scenarios for one test, seed, fast mode, and the errors a typo gets."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SLOW = """
SLOW = {"name": "slow", "rules": [{"name": "report", "match": {"path": "/report"},
        "respond": {"delay": "20s", "json": {"ready": True}}}]}
"""


def test_scenario_from_a_file_next_to_the_test_or_a_dict_for_this_test_only(tester: pytest.Pytester) -> None:
    """Paths are found beside the test file; dicts and lists work; all are removed after the test."""
    tester.mkdir("tests")
    tester.path.joinpath("tests", "orders.yaml").write_text(
        "name: orders\nrules:\n  - name: show\n    match: {path: '/orders/{id}'}\n"
        "    respond: {json: {id: '{{ path.id }}'}}\n")
    tester.path.joinpath("tests", "test_marked.py").write_text("""
import pytest, requests

INLINE = {"name": "inline", "rules": [{"match": {"path": "/ping"}, "respond": {"body": "pong"}}]}

@pytest.mark.mockserver(scenario="orders.yaml")
def test_file(mockserver):
    s = requests.Session(); s.trust_env = False
    assert s.get(mockserver.url_for("/orders/7"), timeout=5).json() == {"id": "7"}

@pytest.mark.mockserver(scenario=["orders.yaml", INLINE])
def test_list(mockserver):
    assert sorted(s.name for s in mockserver.server.scenarios) == ["inline", "orders"]

def test_unmarked_sees_nothing(mockserver):
    assert mockserver.server.scenarios == ()
""")
    tester.runpytest("tests", "-p", "no:randomly").assert_outcomes(passed=3)


def test_a_module_marker_applies_to_every_test_and_the_closest_argument_wins(tester: pytest.Pytester) -> None:
    tester.makepyfile(SLOW + """
import pytest

pytestmark = pytest.mark.mockserver(scenario=SLOW, seed=1)

def test_module_level(mockserver):
    assert [s.name for s in mockserver.server.scenarios] == ["slow"]
    assert mockserver.server.seed == 1

@pytest.mark.mockserver(seed=2)
def test_own_seed_wins(mockserver):
    assert mockserver.server.seed == 2
    assert [s.name for s in mockserver.server.scenarios] == ["slow"]

def test_seed_is_put_back(mockserver_session):
    assert mockserver_session.server.seed is None
""")
    tester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_fast_scales_delays_so_a_20s_answer_comes_at_once(tester: pytest.Pytester) -> None:
    """fast=0.001 turns a 20 s delay into 20 ms; the client's 5 s read timeout would catch a real wait."""
    tester.makepyfile(SLOW + """
import pytest, requests

@pytest.mark.mockserver(scenario=SLOW, fast=0.001)
def test_fast(mockserver):
    s = requests.Session(); s.trust_env = False
    assert s.get(mockserver.url_for("/report"), timeout=5).json() == {"ready": True}
    assert mockserver.time_scale == 0.001
    [entry] = mockserver.entries(rule="report")
    assert entry.delay == 20.0          # the journal keeps the scenario's time

def test_scale_is_put_back(mockserver):
    assert mockserver.time_scale == 1.0
""")
    tester.runpytest().assert_outcomes(passed=2)


def test_fast_from_the_command_line_applies_to_every_server(tester: pytest.Pytester) -> None:
    tester.makepyfile(SLOW + """
import requests

def test_session_server(mockserver):
    assert mockserver.time_scale == 0.001

def test_factory_server(mockserver_factory):
    server = mockserver_factory(SLOW)
    s = requests.Session(); s.trust_env = False
    assert s.get(server.url_for("/report"), timeout=5).status_code == 200
""")
    tester.runpytest("--mockserver-fast", "0.001").assert_outcomes(passed=2)


def test_the_markers_fast_applies_to_factory_servers(tester: pytest.Pytester) -> None:
    tester.makepyfile(SLOW + """
import pytest, requests

@pytest.mark.mockserver(fast=0.001)
def test_factory_server(mockserver_factory):
    server = mockserver_factory(SLOW)
    assert server.time_scale == 0.001
    s = requests.Session(); s.trust_env = False
    assert s.get(server.url_for("/report"), timeout=5).status_code == 200
    assert mockserver_factory(SLOW, time_scale=1.0).time_scale == 1.0
""")
    tester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(("marker", "message"), [
    ("scenarios='x.yaml'", "@pytest.mark.mockserver got unknown argument 'scenarios' (did you mean "
                           "'scenario'?); valid arguments: fast, scenario, seed, strict"),
    ("fast=True", "@pytest.mark.mockserver(fast=True): expected a factor such as 0.01 that every delay "
                  "is multiplied by"),
    ("seed='1'", "@pytest.mark.mockserver(seed='1'): expected an integer"),
    ("'x.yaml'", "@pytest.mark.mockserver takes keyword arguments only; pass scenarios as scenario=... "
                 "(found 1 positional)"),
])
def test_bad_marker_arguments_are_named(tester: pytest.Pytester, marker: str, message: str) -> None:
    tester.makepyfile(f"""
import pytest

@pytest.mark.mockserver({marker})
def test_it(mockserver):
    pass
""")
    result = tester.runpytest()
    result.assert_outcomes(errors=1)
    assert f"test_bad_marker_arguments_are_named.py::test_it: {message}" in result.stdout.str()


def test_a_bad_scenario_errors_the_test_and_leaves_the_server_as_it_was(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
import pytest

@pytest.mark.mockserver(scenario={"name": "bad", "rules": [{"respond": {"statuss": 200}}]})
def test_bad(mockserver):
    pass

def test_next(mockserver):
    assert mockserver.server.scenarios == ()
""")
    result = tester.runpytest("-p", "no:randomly")
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(
        ["*rules[[]0[]].respond.statuss: unknown field 'statuss' (did you mean 'status'?)*"])
