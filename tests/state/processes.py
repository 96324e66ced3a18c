"""Real ``mockserver serve`` replicas on one Redis, for the tests of one journal and one control plane."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def serve_replicas(redis_url: str, prefix: str, scenario: Path, count: int = 2,
                   extra: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """*count* processes on free ports sharing *prefix* on *redis_url*; yields their base URLs and
    checks on the way out that none printed a traceback."""
    procs: list[subprocess.Popen[str]] = []
    urls: list[str] = []
    try:
        for _ in range(count):
            proc = subprocess.Popen(
                [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--quiet", "--state", redis_url,
                 "--state-prefix", prefix, *extra, str(scenario)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
            procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            found = re.search(r"listening on (\S+) ", line)
            assert found is not None, line + (proc.stderr.read() if proc.stderr else "")
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
