"""--state, --state-prefix, --state-timeout and MockServer(state=...): bad values say what is valid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mockserver import MockServer

ROOT = Path(__file__).resolve().parents[2]
VALID = "expected memory or redis://HOST:PORT/DB (rediss:// for TLS, unix:///path/to/socket)"


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--state", "foo"], {}, f"mockserver: --state: found 'foo'; {VALID}"),
    ([], {"MOCKSERVER_STATE": "redis:/x"}, f"mockserver: MOCKSERVER_STATE: found 'redis:/x'; {VALID}"),
    (["--state-timeout", "0"], {},
     "mockserver: --state-timeout: found '0'; expected a number of seconds above 0, such as 2"),
    (["--state-prefix", "a b"], {},
     "mockserver: --state-prefix: found 'a b'; expected a key prefix without spaces, such as mockserver "
     "or ci-job-42"),
])
def test_bad_state_options_are_refused_clearly(args: list[str], env: dict[str, str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=30, check=False,
                          env={**os.environ, **env})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in done.stderr


def test_mockserver_refuses_an_unknown_state_spec() -> None:
    with pytest.raises(ValueError, match=r"MockServer\(state=\.\.\.\): found 'sqlite://x'; expected memory or redis://"):
        MockServer({"name": "x", "rules": []}, state="sqlite://x")


def test_a_redis_url_without_redis_py_says_what_to_install() -> None:
    """redis-py is the optional extra mockserver[redis]: without it, a clear refusal, no traceback."""
    hide = ("import sys, runpy; sys.modules['redis'] = None; sys.argv = ['mockserver'] + sys.argv[1:]; "
            "runpy.run_module('mockserver', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", hide, "serve", "--port", "0", "--state", "redis://127.0.0.1:1/0"],
                          capture_output=True, text=True, cwd=ROOT, timeout=30, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "mockserver: --state: found 'redis://127.0.0.1:1/0'; expected memory, or a Redis URL with redis-py "
        "installed (pip install 'mockserver[redis]')")
    assert "Traceback" not in done.stderr
