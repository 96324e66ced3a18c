"""``mockserver serve --workers N``: N processes on one port, one state, one "listening" line.

Every test runs the real command line as a process and talks to it over loopback.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from mockserver.cli import main

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = """\
name: workers
rules:
  - name: three
    match: {path: /times}
    times: 3
    respond: {status: 201}
  - name: after
    match: {path: /times}
    respond: {status: 410}
  - name: flaky
    match: {path: /flaky}
    respond:
      - {status: 503, repeat: 3}
      - {status: 200}
"""


class Served:
    """A `mockserver serve --workers N` process, its URL and what it printed."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                     env=env, start_new_session=True)
        assert self.proc.stdout is not None
        self.first = self.proc.stdout.readline()
        found = re.search(r"listening on (\S+) \((\d+) workers: pids ([\d, ]+);", self.first)
        assert found is not None, (self.first, self.proc.stderr.read() if self.proc.stderr else "")
        self.url = found.group(1)
        self.pids = {int(p) for p in found.group(3).split(", ")}

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, self.first + out, err


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "workers.yaml"
    path.write_text(SCENARIO)
    return path


@pytest.fixture
def two_workers(scenario: Path) -> Iterator[Served]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    served = Served(["--workers", "2", "--port", "0", "--quiet", str(scenario)])
    try:
        yield served
    finally:
        if served.proc.poll() is None:
            served.stop()


async def spread(url: str, path: str, count: int) -> tuple[Counter[int], set[int]]:
    """*count* concurrent requests, each on a connection of its own; the statuses and the pids
    that answered GET /__mock/health on a fresh connection after each."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True)) as client:
        async def one() -> tuple[int, int]:
            async with client.get(url + path) as resp:
                await resp.read()
            async with client.get(url + "/__mock/health") as health:
                pid: int = (await health.json())["pid"]
            return resp.status, pid

        results = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), 90)
    return Counter(status for status, _ in results), {pid for _, pid in results}


async def test_two_workers_on_one_port_are_one_mock(two_workers: Served) -> None:
    assert len(two_workers.pids) == 2
    statuses, pids = await spread(two_workers.url, "/times", 300)
    assert statuses == {201: 3, 410: 297}
    assert pids == two_workers.pids  # both workers answered, on one port
    statuses, _ = await spread(two_workers.url, "/flaky", 200)
    assert statuses == {503: 3, 200: 197}


async def test_a_scenario_loaded_on_one_worker_is_served_by_every_worker(two_workers: Served) -> None:
    # the control plane replays a call on the other workers through a private port each: a replay
    # sent to the shared port could land on the worker that took the call, and the other missed it
    added = {"name": "added", "rules": [{"match": {"path": "/added"}, "respond": {"status": 201}}]}
    async with aiohttp.ClientSession() as client, \
            client.post(two_workers.url + "/__mock/scenarios", json=added) as resp:
        assert resp.status == 201 and resp.headers["X-Mock-Replicas"] == "1/1"
    statuses, pids = await spread(two_workers.url, "/added", 200)
    assert statuses == {201: 200}
    assert pids == two_workers.pids


def test_sigterm_stops_every_worker_and_the_private_redis(two_workers: Served) -> None:
    redis = [p for p in _children(two_workers.proc.pid) if p not in two_workers.pids]
    assert len(redis) == 1, "the private redis-server runs beside the two workers"
    folder = Path(os.readlink(f"/proc/{redis[0]}/cwd"))  # redis-server works in its --dir
    assert folder.name.startswith("mockserver-redis-")
    assert (folder / "redis.sock").exists()
    code, out, err = two_workers.stop()
    assert code == 0, err
    assert out.count("listening on") == 1  # said once, by the supervisor
    assert "Traceback" not in err, err
    assert not any(alive(pid) for pid in [*two_workers.pids, *redis])
    assert not folder.exists()  # the socket and its folder are gone with it


def test_a_worker_that_dies_stops_all_and_says_which(two_workers: Served) -> None:
    victim = min(two_workers.pids)
    os.kill(victim, signal.SIGKILL)
    _, err = two_workers.proc.communicate(timeout=30)
    assert two_workers.proc.returncode == 1
    assert re.search(rf"mockserver: worker \d \(pid {victim}\) was killed by SIGKILL; stopping all workers "
                     r"\(none is restarted\)", err), err
    assert not any(alive(pid) for pid in two_workers.pids)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_without_state_or_redis_server_workers_are_refused(scenario: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()  # a PATH where redis-server cannot be found
    err = io.StringIO()
    code = main(["serve", "--workers", "3", "--port", "0", str(scenario)], env={"PATH": str(bare)},
                stdout=io.StringIO(), stderr=err)
    assert code == 1
    assert err.getvalue() == (
        "mockserver: --workers 3: the workers must share one state, and no --state was given and "
        "redis-server is not installed (not found on PATH) to start a private one for the run; install it "
        "(apt-get install redis-server), or give --state redis://HOST:PORT/DB, or serve with --workers 1\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "0"], "mockserver: --workers: found '0'; expected an integer from 1 to 64"),
    (["--workers", "2", "--tls"], "mockserver: --workers 2: --tls makes a CA per process; give the workers "
                                  "one certificate with --cert and --key"),
    (["--workers", "2", "--refuse-port", "0"], "mockserver: --workers 2: --refuse-port is one port per "
                                               "process; serve fault ports with --workers 1"),
])
def test_settings_workers_cannot_honour_are_refused(scenario: Path, args: list[str], message: str) -> None:
    err = io.StringIO()
    code = main(["serve", *args, "--port", "0", str(scenario)], env={}, stdout=io.StringIO(), stderr=err)
    assert code in (1, 2)
    assert err.getvalue().splitlines()[0] == message


def test_workers_from_the_environment(scenario: Path, tmp_path: Path) -> None:
    err = io.StringIO()
    code = main(["serve", "--port", "0", str(scenario)],
                env={"MOCKSERVER_WORKERS": "2", "PATH": str(tmp_path)}, stdout=io.StringIO(), stderr=err)
    assert (code, err.getvalue().split(":")[1]) == (1, " --workers 2")


def test_a_bad_scenario_is_refused_once_before_any_worker(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrules:\n  - match: {path: /x}\n    respond: {status: 99}\n")
    started = time.monotonic()
    err = io.StringIO()
    code = main(["serve", "--workers", "2", "--port", "0", str(bad)], env=dict(os.environ),
                stdout=io.StringIO(), stderr=err)
    assert code == 1
    lines = err.getvalue().splitlines()
    assert lines[-1] == "mockserver: refusing to serve: 1 problem(s) in the scenarios"
    assert len(lines) == 2 and lines[0].startswith(f"{bad}:4:"), lines
    assert time.monotonic() - started < 30
