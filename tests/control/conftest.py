"""A real ``mockserver serve`` process for the control tests, with its output kept for asserts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.conftest import ROOT

URL = re.compile(r"listening on (https?://127\.0\.0\.1:\d+)")


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)  # stdout, read by a thread
    errors: list[str] = field(default_factory=list)  # stderr

    def stop(self, timeout: float = 10) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout)


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None, timeout: float = 20) -> Iterator[Served]:
    """Start ``mockserver serve --port 0 ARGS`` and yield once it listens; kill it afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    errors: list[str] = []
    started = threading.Event()

    def pump(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line.rstrip("\n"))
            if URL.search(line):
                started.set()
        started.set()  # the process ended: stop waiting

    readers = [threading.Thread(target=pump, args=(proc.stdout, lines), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, errors), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        started.wait(timeout)
        found = next((m for m in map(URL.search, lines) if m), None)
        assert found, f"no URL printed; stdout {lines}, stderr {errors}"
        yield Served(proc, found.group(1), lines, errors)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for reader in readers:
            reader.join(5)
        proc.stdout.close()
        proc.stderr.close()
