"""Two mockserver processes on one Redis are one mock: exact counts across replicas.

Each replica is a real ``mockserver serve --port 0 --state redis://...`` process; concurrent
clients split their requests between the two ports.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from .conftest import RedisProcess

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = """\
name: replicas
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
  - name: bucket
    match: {path: /bucket}
    rate_limit: {rate: 1, per: 60s, burst: 7}
    respond: {status: 200}
"""


@pytest.fixture
def replicas(redis_server: RedisProcess, tmp_path: Path) -> Iterator[list[str]]:
    path = tmp_path / "replicas.yaml"
    path.write_text(SCENARIO)
    prefix = f"replicas-{uuid.uuid4().hex}"
    procs, urls = [], []
    try:
        for _ in range(2):
            proc = subprocess.Popen(
                [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--quiet", "--state",
                 redis_server.url, "--state-prefix", prefix, str(path)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
            procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            found = re.search(r"listening on (\S+) ", line)
            assert found is not None, line
            urls.append(found.group(1).rstrip("/"))
        yield urls
    finally:
        errors = []
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            assert proc.stderr is not None and proc.stdout is not None
            errors.append(proc.stderr.read())
            proc.stdout.close()
            proc.stderr.close()
        assert not any("Traceback" in e for e in errors), errors


async def spread(urls: list[str], path: str, count: int) -> Counter[int]:
    """*count* concurrent requests, alternating between the replicas."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        async def one(i: int) -> int:
            async with client.get(urls[i % len(urls)] + path) as resp:
                await resp.read()
                return resp.status

        return Counter(await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), 60))


async def test_two_replicas_count_as_one_mock(replicas: list[str]) -> None:
    assert await spread(replicas, "/times", 400) == {201: 3, 410: 397}
    assert await spread(replicas, "/flaky", 400) == {503: 3, 200: 397}
    assert await spread(replicas, "/bucket", 400) == {200: 7, 429: 393}
