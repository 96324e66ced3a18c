"""Shared fixtures: scenario helpers and a raw-socket client for wire-level assertions."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

# The Huawei SDK writes ~/.huaweicloud/application_id when it is imported; every test run gets a
# scratch HOME so nothing is written to the real one (and no credentials file is ever read).
os.environ["HOME"] = tempfile.mkdtemp(prefix="mockserver-test-home-")

if os.environ.get("MOCKSERVER_TEST_LOOP") == "uvloop":  # tests/reliability/test_uvloop.py reruns suites so
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def raw_exchange(port: int, data: bytes, timeout: float = 3.0) -> tuple[bytes, str]:
    """Send raw bytes to 127.0.0.1:port; return what came back and how the connection ended."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    received = b""
    end = "?"
    try:
        if data:
            sock.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                end = "FIN"
                break
            received += chunk
    except ConnectionResetError:
        end = "RST"
    except TimeoutError:
        end = "open"
    finally:
        sock.close()
    return received, end
