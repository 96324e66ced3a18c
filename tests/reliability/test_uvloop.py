"""`--loop uvloop` (the `mockserver[uvloop]` extra): the wire-level suites again, on uvloop.

Faults, exact status lines, limits and hostile clients depend on transport details (SO_LINGER
for a real RST, raw writes, timers), which is where another event loop could differ; so those
suites run again in a child pytest whose event loops are all uvloop's (tests/conftest.py reads
MOCKSERVER_TEST_LOOP).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT
from tests.control.conftest import serve

uvloop = pytest.importorskip("uvloop")

SUITES = ["tests/chaos/test_faults.py", "tests/protocol", "tests/reliability/test_hostile.py",
          "tests/reliability/test_silent_connections.py", "tests/reliability/test_mid_body_disconnect.py"]


@pytest.mark.skipif(os.environ.get("MOCKSERVER_TEST_LOOP") != "uvloop", reason="only in the uvloop rerun")
def test_this_run_is_on_uvloop() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


@pytest.mark.skipif(os.environ.get("MOCKSERVER_TEST_LOOP") == "uvloop", reason="this is the rerun")
def test_wire_suites_pass_on_uvloop() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         "tests/reliability/test_uvloop.py::test_this_run_is_on_uvloop", *SUITES],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "MOCKSERVER_TEST_LOOP": "uvloop"})
    tail = done.stdout[-3000:]
    assert done.returncode == 0, tail
    assert "only in the uvloop rerun" not in tail  # not skipped: the loops were uvloop's
    assert " passed" in tail and " failed" not in tail, tail


def test_serve_on_uvloop() -> None:
    with serve("--loop", "uvloop") as served:
        answer = requests.get(served.url + "/hello", timeout=5)
        assert answer.status_code == 200 and answer.headers["X-Request-Id"]
        assert served.stop() == 0


def test_an_unknown_loop_is_refused() -> None:
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--loop", "trio"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2  # a value out of range, as for every option
    assert done.stderr == "mockserver: --loop: found 'trio'; expected asyncio or uvloop\n"
