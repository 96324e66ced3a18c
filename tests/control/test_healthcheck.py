"""The Dockerfile's HEALTHCHECK one-liner, run as the container runs it, against a local server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.control.conftest import serve

HEALTHCHECK = json.loads(re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(),
                                   re.M).group(1))  # type: ignore[union-attr]


def check(env: dict[str, str]) -> int:
    assert HEALTHCHECK[:2] == ["python3", "-c"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MOCKSERVER_")}
    return subprocess.run([sys.executable, "-c", HEALTHCHECK[2]], env={**clean, **env}, capture_output=True,
                          timeout=30, check=False).returncode


def port(url: str) -> str:
    return url.rsplit(":", 1)[1]


def test_healthy_with_the_token_from_the_environment() -> None:
    with serve(env={"MOCKSERVER_ADMIN_TOKEN": "t0k3n"}) as served:
        assert check({"MOCKSERVER_PORT": port(served.url), "MOCKSERVER_ADMIN_TOKEN": "t0k3n"}) == 0
        assert check({"MOCKSERVER_PORT": port(served.url), "MOCKSERVER_ADMIN_TOKEN": "other"}) != 0
        assert check({"MOCKSERVER_PORT": port(served.url)}) != 0
        # a proxy in the environment is not used for the container's own loopback
        proxy = {"HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
        assert check({"MOCKSERVER_PORT": port(served.url), "MOCKSERVER_ADMIN_TOKEN": "t0k3n", **proxy}) == 0
        url = served.url
    assert check({"MOCKSERVER_PORT": port(url)}) != 0  # stopped: unhealthy


def test_healthy_over_tls(tmp_path: Path) -> None:
    with serve("--tls", "--cert-out", str(tmp_path / "ca.pem")) as served:
        assert check({"MOCKSERVER_PORT": port(served.url), "MOCKSERVER_TLS": "1"}) == 0
        assert check({"MOCKSERVER_PORT": port(served.url)}) != 0  # plain HTTP to a TLS port
