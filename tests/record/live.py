"""Running `mockserver record` and `mockserver serve` as a user does, and searching files for secrets."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote, quote_plus

from tests.conftest import ROOT

__all__ = ["leaks", "mockserver_process", "stop"]


@contextlib.contextmanager
def mockserver_process(*args: str, env: dict[str, str] | None = None
                       ) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """``python -m mockserver ARGS``; yields the process, its URL and the lines before "listening"."""
    proc = subprocess.Popen([sys.executable, "-m", "mockserver", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, **(env or {})})
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for _ in range(20):  # a bounded read: the URL comes within the first few lines
            line = proc.stdout.readline()
            lines.append(line)
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if match or not line:
                break
        assert match, f"no URL in {lines!r}; stderr: {proc.stderr.read() if proc.stderr else ''}"
        yield proc, match.group(1), lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def stop(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT) -> tuple[str, str]:
    """Signal the process, wait for a clean exit; what it printed after that."""
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, (out, err)
    assert "Traceback" not in err
    return out, err


def leaks(secrets: Sequence[str], files: Sequence[Path] = (), texts: Sequence[bytes] = ()) -> list[str]:
    """Every (secret, place) where a secret's bytes show: as is, percent-encoded, JSON-escaped."""
    found = []
    blobs = [(str(p), p.read_bytes()) for p in files] + [(f"text {i}", t) for i, t in enumerate(texts)]
    for secret in secrets:
        forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
        for where, blob in blobs:
            if any(form.encode() in blob for form in forms):
                found.append(f"{secret!r} in {where}")
    return found


def written(folder: Path) -> list[Path]:
    """Every file under *folder* (the scenario and its side files)."""
    return sorted(p for p in folder.rglob("*") if p.is_file())
