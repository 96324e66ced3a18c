"""The plugin is tested from the outside: pytester runs small test files through pytest.

Most runs are in-process (``runpytest``): the entry point loads the plugin into each inner
session afresh, and it is ten times faster than a subprocess here. Runs that need a process
of their own (xdist workers, plugin autoloading, an external server) use
``runpytest_subprocess``. Each module requires pytester itself (``pytest_plugins``): pytest only
honours that variable in the top-level conftest.py, which is not ours.
"""

from __future__ import annotations

import pytest

# no pytest-timeout setting here: its SIGALRM timer in an in-process run would cancel the timer
# that bounds the outer test; clients in the inner tests carry their own timeouts instead
INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester with the project's asyncio settings, never pointed at an external server."""
    monkeypatch.delenv("MOCKSERVER_URL", raising=False)
    monkeypatch.delenv("MOCKSERVER_ADMIN_TOKEN", raising=False)
    pytester.makeini(INI)
    return pytester
