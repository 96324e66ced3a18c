"""One spelling of the seed: set_seed(n) on MockServer, RemoteMockServer and the fixture; the old
spellings still work and warn."""

from __future__ import annotations

import pytest

from mockserver import MockServer

pytest_plugins = ["pytester"]

SCENARIO = {"name": "s", "rules": [{"match": {"path": "/x"}, "respond": {"status": 200}}]}


def test_set_seed_is_the_spelling_and_the_setter_warns() -> None:
    with MockServer(SCENARIO) as server:
        server.set_seed(5)
        assert server.seed == 5
        with pytest.warns(DeprecationWarning, match=r"seed = n is deprecated; use server.set_seed\(n\)"):
            server.seed = 9
        assert server.seed == 9 and server.engine.seed == 9


def test_the_fixture_says_set_seed_and_still_takes_seed(tester: pytest.Pytester) -> None:
    tester.makepyfile('''
import pytest

def test_new(mockserver):
    mockserver.set_seed(11)
    assert mockserver.server.seed == 11

def test_old(mockserver):
    with pytest.warns(DeprecationWarning, match=r"use mockserver.set_seed\\(n\\)"):
        mockserver.seed(12)
    assert mockserver.server.seed == 12

def test_put_back(mockserver):
    assert mockserver.server.seed is None
''')
    tester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)
