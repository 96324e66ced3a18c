"""Shared fixtures: scenario helpers and a raw-socket client for wire-level assertions."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.pytester import SysModulesSnapshot

# The Huawei SDK writes ~/.huaweicloud/application_id when it is imported; every test run gets a
# scratch HOME so nothing is written to the real one (and no credentials file is ever read).
os.environ["HOME"] = tempfile.mkdtemp(prefix="mockserver-test-home-")

if os.environ.get("MOCKSERVER_TEST_LOOP") == "uvloop":  # tests/reliability/test_uvloop.py reruns suites so
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def raw_exchange(port: int, data: bytes, timeout: float = 3.0) -> tuple[bytes, str]:
    """Send raw bytes to 127.0.0.1:port; return what came back and how the connection ended."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    received = b""
    end = "?"
    try:
        if data:
            sock.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                end = "FIN"
                break
            received += chunk
    except ConnectionResetError:
        end = "RST"
    except TimeoutError:
        end = "open"
    finally:
        sock.close()
    return received, end



# --- in-process pytester runs keep the modules they import ------------------------------------------
# pytester snapshots sys.modules around an in-process run (runpytest) and restores the snapshot after
# it, dropping every module first imported inside the inner run, while modules from before the run
# keep what they cached from it. httpx fills its httpcore exception map on first use: when that first
# use was inside an inner run, httpcore was dropped, the next request imported a second httpcore, and
# its ReadTimeout was no longer the class httpx maps: the raw httpcore.ReadTimeout escaped in a later,
# unrelated test (tests/protocol/test_triggers.py, tests/tls/). The snapshot exists so that the inner
# runs' own test modules (in pytester's folder) do not clash with each other; only those are dropped
# now, every other module an inner run imports stays, once. pytest has no public hook for this.


def _own_snapshot(tester: pytest.Pytester) -> Any:
    """A sys.modules snapshot whose restore drops only the modules loaded from *tester*'s folder."""
    root = str(tester.path)

    def keep(name: str) -> bool:
        module = sys.modules.get(name)
        places = [getattr(module, "__file__", None) or "", *(getattr(module, "__path__", None) or ())]
        return not any(str(place).startswith(root) for place in places)

    return SysModulesSnapshot(preserve=keep)


# the name-mangled method that takes both of pytester's snapshots (at creation and per inline run);
# checked here so a pytest upgrade that renames it fails at collection, not as flaky httpx tests
assert hasattr(pytest.Pytester, "_Pytester__take_sys_modules_snapshot"), pytest.__version__
pytest.Pytester._Pytester__take_sys_modules_snapshot = _own_snapshot


@pytest.fixture(autouse=True)
def _inner_runs_leave_no_second_copy(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test whose in-process pytester run dropped a module it imported from outside its own
    folder: the next import of that module would make a second copy of its classes."""
    if "pytester" not in request.fixturenames:
        yield
        return
    tester: pytest.Pytester = request.getfixturevalue("pytester")
    original = tester.inline_run
    loaded: dict[str, Any] = {}
    root = str(tester.path)

    def inline_run(*args: Any, plugins: Any = (), **kwargs: Any) -> Any:
        before = set(sys.modules)

        class Seen:
            @staticmethod
            def pytest_unconfigure() -> None:  # the inner session is over, its snapshot not restored yet
                loaded.update((name, module) for name, module in sys.modules.items() if name not in before
                              and not (getattr(module, "__file__", None) or "").startswith(root))

        return original(*args, plugins=[*plugins, Seen()], **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tester, "inline_run", inline_run)
        yield
    dropped = sorted(name for name, module in loaded.items() if sys.modules.get(name) is not module)
    assert not dropped, (f"an in-process pytester run dropped {len(dropped)} module(s) it imported, "
                         f"so a later import makes a second copy: {', '.join(dropped[:8])}")
