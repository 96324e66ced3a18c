"""The image as CI runs it: built with podman, served on a loopback port, stopped with SIGTERM.

Needs podman and a Python base image that podman has locally (the build pulls nothing), named by
MOCKSERVER_TEST_PYTHON_IMAGE: any Debian-based image with Python 3.11+ and venv, for example
``podman pull docker.io/library/python:3.12-slim`` and
``MOCKSERVER_TEST_PYTHON_IMAGE=docker.io/library/python:3.12-slim``. Without them the module is
skipped, and the skip says which is missing.
Everything this module creates (image, containers) is removed at the end.

The README's and docs/container.md's examples are what these tests do: the GitHub Actions
service (its env, its "Load the scenarios" step run with bash against the container), a folder
mounted at /scenarios with --watch --log-json, and HTTPS with the CA written to a mounted folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import ROOT

PODMAN = shutil.which("podman")
BASE = os.environ.get("MOCKSERVER_TEST_PYTHON_IMAGE", "")
README = (ROOT / "README.md").read_text()
WORKFLOW = yaml.safe_load(re.search(r"```yaml\n(jobs:\n.*?)```", README, re.S).group(1))  # type: ignore[union-attr]
SERVICE = WORKFLOW["jobs"]["test"]["services"]["mockserver"]
ORDERS = re.search(r"```yaml\n(# orders.yaml\n.*?)```", README, re.S).group(1)  # type: ignore[union-attr]
TOKEN = SERVICE["env"]["MOCKSERVER_ADMIN_TOKEN"]

EXAMPLE_BASE = "docker.io/library/python:3.12-slim"


def missing() -> str | None:
    """What this machine lacks to build and run the image, in the words a user acts on; None if nothing."""
    if PODMAN is None:
        return ("podman is not installed: these tests build the Dockerfile with podman and run the image "
                "(install podman, e.g. apt-get install podman)")
    if not BASE:
        return ("MOCKSERVER_TEST_PYTHON_IMAGE is not set: name a local base image with Python 3.11+ and venv "
                f"for the build, e.g. podman pull {EXAMPLE_BASE} and "
                f"MOCKSERVER_TEST_PYTHON_IMAGE={EXAMPLE_BASE}")
    exists = subprocess.run([PODMAN, "image", "exists", BASE], capture_output=True, timeout=60, check=False)
    if exists.returncode != 0:
        return (f"MOCKSERVER_TEST_PYTHON_IMAGE is {BASE!r}, which podman does not have locally "
                f"(the build pulls nothing): podman pull {BASE}, or name one listed by podman images")
    return None


MISSING = missing()
pytestmark = [
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
    pytest.mark.timeout(900),
]


def podman(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert PODMAN is not None
    proc = subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    tag = f"localhost/mockserver-test:{uuid.uuid4().hex[:12]}"
    # docker format keeps the HEALTHCHECK (OCI has no field for it); no layer cache left behind
    started = time.monotonic()
    podman("build", "--format", "docker", "--layers=false", "--rm", "--build-arg", f"PYTHON_IMAGE={BASE}",
           "-t", tag, str(ROOT), timeout=600)
    build_seconds = time.monotonic() - started
    size = int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout)
    base = int(podman("image", "inspect", "--format", "{{.Size}}", BASE).stdout)
    print(f"\nimage {tag}: {size / 1e6:.0f} MB ({(size - base) / 1e6:.0f} MB over {BASE}), "
          f"built in {build_seconds:.0f}s")
    try:
        yield tag
    finally:
        podman("rmi", "--force", tag, check=False)


class Container:
    def __init__(self, image: str, *args: str, env: dict[str, str] | None = None,
                 volumes: tuple[str, ...] = (), scheme: str = "http") -> None:
        self.name = f"mockserver-test-{uuid.uuid4().hex[:12]}"
        options = [f"--env={k}={v}" for k, v in (env or {}).items()]
        options += [f"--volume={v}" for v in volumes]
        self.started = time.monotonic()
        podman("run", "--detach", "--name", self.name, "--publish", "127.0.0.1::8080", *options, image, *args)
        host_port = podman("port", self.name, "8080/tcp").stdout.strip().splitlines()[0]
        self.url = f"{scheme}://{host_port}"
        self.ready_after = self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/__mock/health", timeout=1)
                return time.monotonic() - self.started
            except requests.exceptions.SSLError:
                return time.monotonic() - self.started  # listening; the test checks the certificate
            except requests.ConnectionError:
                running = podman("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip()
                if running != "true":
                    raise AssertionError(f"the container stopped; logs:\n{self.logs()}") from None
                time.sleep(0.05)
        raise AssertionError(f"the container did not listen within {timeout}s; logs:\n{self.logs()}")

    def logs(self) -> str:
        proc = podman("logs", self.name, check=False)
        return proc.stdout + proc.stderr

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    made: list[Container] = []
    yield made
    for container in made:
        container.remove()


def test_as_the_readme_ci_service_loads_over_http_turns_healthy_and_stops_on_sigterm(
        image: str, containers: list[Container], tmp_path: Path) -> None:
    assert SERVICE["ports"] == ["8080:8080"]
    box = Container(image, env={**SERVICE["env"], "MOCKSERVER_SHUTDOWN_TIMEOUT": "1"})
    containers.append(box)
    print(f"listening {box.ready_after:.2f}s after podman run")
    assert box.ready_after < 10

    hello = requests.get(box.url + "/hello", timeout=5)
    assert (hello.status_code, hello.text) == (200, "hello from mockserver\n")

    # the workflow's step, as written, against this container: it needs the token
    (tmp_path / "orders.yaml").write_text(ORDERS)
    step = next(s for s in WORKFLOW["jobs"]["test"]["steps"] if s.get("name") == "Load the scenarios")
    env = {**os.environ, **WORKFLOW["jobs"]["test"]["env"], "MOCK": box.url}
    loaded = subprocess.run(["bash", "-euo", "pipefail", "-c", step["run"]], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=30, check=False)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert [s["name"] for s in json.loads(loaded.stdout)] == ["orders"]
    assert requests.get(box.url + "/orders/7", timeout=5).json() == {"id": "7", "state": "paid"}
    seed = requests.post(box.url + "/__mock/seed", json={"seed": 1}, timeout=5)
    assert seed.status_code == 401 and seed.headers["WWW-Authenticate"] == 'Bearer realm="mockserver"'

    # a slow rule for the shutdown below
    auth = {"Authorization": f"Bearer {TOKEN}"}
    scenario = {"name": "ci", "rules": [
        {"name": "slow", "match": {"path": "/slow"}, "respond": {"delay": "30s", "body": "late"}}]}
    added = requests.post(box.url + "/__mock/scenarios", json=scenario, headers=auth, timeout=5)
    assert added.status_code == 201

    # the image's HEALTHCHECK (run by hand: there is no systemd timer here) finds it healthy
    assert podman("healthcheck", "run", box.name, check=False).returncode == 0
    assert podman("inspect", "--format", "{{.State.Health.Status}}", box.name).stdout.strip() == "healthy"
    user = podman("exec", box.name, "id", "-u").stdout.strip()
    assert user == "10001"

    # SIGTERM with an answer in flight: stops accepting, cuts it after the shutdown timeout, exits 0
    session = requests.Session()
    pending = subprocess.Popen(["python3", "-c", f"import urllib.request as u; u.urlopen('{box.url}/slow', "
                                                 "timeout=20)"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "mockserver_in_flight_requests 1" not in session.get(
                box.url + "/__mock/metrics", headers=auth, timeout=5).text:
            time.sleep(0.05)
        stopped = time.monotonic()
        podman("kill", "--signal", "TERM", box.name)
        exit_code = podman("wait", box.name, timeout=30).stdout.strip()
        assert exit_code == "0", box.logs()
        assert time.monotonic() - stopped < 5
        assert pending.wait(20) != 0  # its answer was cut short, as promised
    finally:
        if pending.poll() is None:
            pending.kill()
            pending.wait()
    logs = box.logs()
    assert "Traceback" not in logs and TOKEN not in logs
    assert "shutting down" in logs and "1 answer(s) still in flight after 1s" in logs


def test_serves_a_mounted_folder_and_reloads_it(image: str, containers: list[Container],
                                               tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    scenario = folder / "orders.yaml"
    scenario.write_text(ORDERS)
    for path in (tmp_path, folder, scenario):  # readable by the container's non-root user
        path.chmod(0o755 if path.is_dir() else 0o644)
    box = Container(image, "--watch", "--log-json", volumes=(f"{folder}:/scenarios:ro",))
    containers.append(box)
    assert requests.get(box.url + "/orders/7", timeout=5).json() == {"id": "7", "state": "paid"}
    assert requests.get(box.url + "/hello", timeout=5).status_code == 404  # the folder replaces the built-ins

    scenario.write_text(ORDERS.replace("state: paid", "state: shipped"))
    deadline = time.monotonic() + 15
    while requests.get(box.url + "/orders/7", timeout=5).json()["state"] != "shipped":
        assert time.monotonic() < deadline, box.logs()
        time.sleep(0.1)
    health = requests.get(box.url + "/__mock/health", timeout=5).json()
    # mockserver is the container's first process: SIGTERM from `podman stop` reaches it directly
    assert health == {"status": "ok", "scenarios": 1, "rules": 3, "reload_error": None, "state": None,
                      "pid": 1}
    podman("stop", "--time", "10", box.name, timeout=30)
    assert podman("inspect", "--format", "{{.State.ExitCode}}", box.name).stdout.strip() == "0"
    # docs/container.md: the same folder checked with the image's validate command
    validated = podman("run", "--rm", "--entrypoint", "mockserver", "--volume", f"{folder}:/scenarios:ro",
                       image, "validate", "/scenarios")
    assert validated.stdout == "ok: 1 scenario(s), 3 rule(s)\n"
    records = [json.loads(line) for line in podman("logs", box.name).stdout.splitlines()]
    events = [r["event"] for r in records]
    assert events[:2] == ["listening", "watching"] and "reload" in events and events[-1] == "stopping"
    assert [r["path"] for r in records if r["event"] == "exchange"][:2] == ["/orders/7", "/hello"]


def test_https_with_the_ca_written_to_a_mounted_folder(image: str, containers: list[Container],
                                                      tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    certs.chmod(0o777)  # as docs/container.md says: user 10001 writes the CA there
    box = Container(image, env={"MOCKSERVER_TLS": "1", "MOCKSERVER_CERT_OUT": "/certs/ca.pem",
                                "MOCKSERVER_TLS_NAMES": "mockserver"},
                    volumes=(f"{certs}:/certs",), scheme="https")
    containers.append(box)
    ca = certs / "ca.pem"
    curl = subprocess.run(["curl", "-sS", "--cacert", str(ca), box.url.replace("127.0.0.1", "localhost")
                           + "/hello"], capture_output=True, text=True, timeout=30, check=False)
    assert (curl.returncode, curl.stdout) == (0, "hello from mockserver\n"), curl.stderr
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(box.url + "/hello", timeout=5)
    assert podman("healthcheck", "run", box.name, check=False).returncode == 0
