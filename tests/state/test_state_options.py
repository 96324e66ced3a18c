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
