"""The image as CI runs it: built with podman, served on a loopback port, stopped with SIGTERM.

Needs podman and a local Python base image, since nothing can be pulled here: .ci/run runs
../shared/container/prepare.sh and exports its last line as MOCKSERVER_TEST_PYTHON_IMAGE.
Everything this module creates (image, containers) is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT

PODMAN = shutil.which("podman")
BASE = os.environ.get("MOCKSERVER_TEST_PYTHON_IMAGE", "")
TOKEN = "container-token-0123456789"

pytestmark = [
    pytest.mark.skipif(PODMAN is None, reason="podman is not installed (run ../shared/container/prepare.sh)"),
    pytest.mark.skipif(not BASE, reason="MOCKSERVER_TEST_PYTHON_IMAGE is not set: run ../shared/container/"
                                        "prepare.sh and export its last line (.ci/run does)"),
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
                 volumes: tuple[str, ...] = ()) -> None:
        self.name = f"mockserver-test-{uuid.uuid4().hex[:12]}"
        options = [f"--env={k}={v}" for k, v in (env or {}).items()]
        options += [f"--volume={v}" for v in volumes]
        self.started = time.monotonic()
        podman("run", "--detach", "--name", self.name, "--publish", "127.0.0.1::8080", *options, image, *args)
        host_port = podman("port", self.name, "8080/tcp").stdout.strip().splitlines()[0]
        self.url = "http://" + host_port
        self.ready_after = self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/__mock/health", timeout=1)
                return time.monotonic() - self.started
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


def test_serves_builtins_loads_over_http_turns_healthy_and_stops_on_sigterm(
        image: str, containers: list[Container]) -> None:
    box = Container(image, env={"MOCKSERVER_ADMIN_TOKEN": TOKEN, "MOCKSERVER_SHUTDOWN_TIMEOUT": "1"})
    containers.append(box)
    print(f"listening {box.ready_after:.2f}s after podman run")
    assert box.ready_after < 10

    hello = requests.get(box.url + "/hello", timeout=5)
    assert (hello.status_code, hello.text) == (200, "hello from mockserver\n")

    # the control API wants the token; with it, a new scenario is served at once
    scenario = {"name": "ci", "rules": [
        {"name": "slow", "match": {"path": "/slow"}, "respond": {"delay": "30s", "body": "late"}},
        {"name": "status", "match": {"path": "/status"}, "respond": {"json": {"ok": True}}}]}
    assert requests.post(box.url + "/__mock/scenarios", json=scenario, timeout=5).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    added = requests.post(box.url + "/__mock/scenarios", json=scenario, headers=auth, timeout=5)
    assert added.status_code == 201
    assert requests.get(box.url + "/status", timeout=5).json() == {"ok": True}

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
    scenario.write_text("name: orders\nrules:\n  - match: {path: '/orders/{id}'}\n"
                        "    respond: {json: {id: '{{ path.id }}', version: 1}}\n")
    for path in (tmp_path, folder, scenario):  # readable by the container's non-root user
        path.chmod(0o755 if path.is_dir() else 0o644)
    box = Container(image, "--watch", "--watch-interval", "0.2", volumes=(f"{folder}:/scenarios:ro",))
    containers.append(box)
    assert requests.get(box.url + "/orders/7", timeout=5).json() == {"id": "7", "version": 1}
    assert requests.get(box.url + "/hello", timeout=5).status_code == 404  # the folder replaces the built-ins

    scenario.write_text(scenario.read_text().replace("version: 1", "version: 2"))
    deadline = time.monotonic() + 15
    while requests.get(box.url + "/orders/7", timeout=5).json()["version"] != 2:
        assert time.monotonic() < deadline, box.logs()
        time.sleep(0.1)
    health = requests.get(box.url + "/__mock/health", timeout=5).json()
    assert health == {"status": "ok", "scenarios": 1, "rules": 1, "reload_error": None}
    podman("stop", "--time", "10", box.name, timeout=30)
    assert podman("inspect", "--format", "{{.State.ExitCode}}", box.name).stdout.strip() == "0"
