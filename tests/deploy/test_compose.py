"""compose.yaml started for real: images built with podman, services run by deploy/compose.py
(no compose tool is installed here), one mock across two containers and three processes.

Needs podman and MOCKSERVER_TEST_PYTHON_IMAGE, as tests/container does (skipped, saying which is
missing, without them).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import aiohttp
import pytest
import requests

from tests.conftest import ROOT
from tests.container.test_container import MISSING

from ..state.conftest import free_port

pytestmark = [pytest.mark.skipif(MISSING is not None, reason=MISSING or ""), pytest.mark.timeout(900)]


class Project:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.name = f"mstest-{tag}"
        self.port, self.replica_port = free_port(), free_port()
        self.env = {**os.environ, "PYTHON_IMAGE": os.environ["MOCKSERVER_TEST_PYTHON_IMAGE"],
                    "MOCKSERVER_IMAGE": f"localhost/mockserver-compose-test:{tag}",
                    "MOCKSERVER_REDIS_IMAGE": f"localhost/mockserver-redis-compose-test:{tag}",
                    "MOCKSERVER_PORT": str(self.port), "MOCKSERVER_REPLICA_PORT": str(self.replica_port)}

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(ROOT / "deploy" / "compose.py"), *args, "--project", self.name]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=800, check=False)

    def healthy(self, port: int, limit: float = 60) -> dict[str, object]:
        deadline = time.monotonic() + limit
        while True:
            try:
                url = f"http://127.0.0.1:{port}/__mock/health"
                health: dict[str, object] = requests.get(url, timeout=2).json()
                if health["state"] is None:
                    return health
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                logs = subprocess.run(["podman", "logs", f"{self.name}-mockserver-1"],
                                      capture_output=True, text=True, check=False).stderr[-2000:]
                raise AssertionError(f"nothing healthy on {port} after {limit:g}s: {logs}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def project() -> Iterator[Project]:
    p = Project()
    up = p.compose("up", "--build")
    try:
        assert up.returncode == 0, up.stderr
        services = ("redis", "mockserver", "replica")
        assert up.stdout.splitlines() == [f"started {p.name}-{s}-1" for s in services]
        yield p
    finally:
        down = p.compose("down")
        subprocess.run(["podman", "rmi", "-f", p.env["MOCKSERVER_IMAGE"], p.env["MOCKSERVER_REDIS_IMAGE"]],
                       capture_output=True, check=False, timeout=120)
        assert down.returncode == 0, down.stderr


async def spread(urls: list[str], path: str, count: int) -> Counter[int]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True)) as client:
        async def one(i: int) -> int:
            async with client.get(urls[i % len(urls)] + path) as resp:
                await resp.read()
                return resp.status

        return Counter(await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), 120))


def test_compose_is_one_mock_across_containers_and_workers(project: Project) -> None:
    project.healthy(project.port)
    project.healthy(project.replica_port)
    urls = [f"http://127.0.0.1:{project.port}", f"http://127.0.0.1:{project.replica_port}"]
    requests.post(urls[0] + "/__mock/reset", timeout=5).raise_for_status()  # shared: resets both
    # demo's /flaky answers 503 three times, then 200: three in all, not three per process
    assert asyncio.run(spread(urls, "/flaky", 300)) == {503: 3, 200: 297}
    pids = {requests.get(urls[0] + "/__mock/health", timeout=5, headers={"Connection": "close"}).json()["pid"]
            for _ in range(40)}
    assert len(pids) == 2, "both workers of the mockserver service answer on its one port"


def test_compose_down_removes_what_up_started(project: Project) -> None:
    names = subprocess.run(["podman", "ps", "--format", "{{.Names}}", "--filter", f"name={project.name}-"],
                           capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert sorted(names) == sorted(f"{project.name}-{s}-1" for s in ("redis", "mockserver", "replica"))
