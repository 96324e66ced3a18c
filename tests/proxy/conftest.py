"""A real upstream that others wrote (httpbin, served by gunicorn) and tiny hostile ones, all on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def httpbin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """httpbin under gunicorn (threads, so /delay and /drip do not block each other)."""
    with run_httpbin(tmp_path_factory.mktemp("httpbin") / "gunicorn.log") as url:
        yield url


@contextlib.contextmanager
def run_httpbin(log_path: Path) -> Iterator[str]:
    """Start httpbin on a free loopback port; stopped (and its port closed) on leaving."""
    port = free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--threads", "16",
         "--worker-class", "gthread", "--timeout", "60", "--log-level", "warning", "httpbin:app"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/get", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"httpbin did not start (exit {process.poll()})") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


@pytest.fixture
def resetting_upstream() -> Iterator[str]:
    """Reads the request, then closes with an RST (SO_LINGER 0): a crashing upstream."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(OSError):
                conn.settimeout(2)
                conn.recv(65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.fixture
def refused_url() -> str:
    """A port nothing listens on (bound, then closed: the kernel refuses connections to it)."""
    return f"http://127.0.0.1:{free_port()}"
