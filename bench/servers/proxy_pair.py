"""Case 9: bare aiohttp as the upstream, and mockserver in front of it forwarding everything.

Both run as children of this process (so the harness pins and stops them as one server, by this
PID); on SIGTERM or SIGINT both are stopped by PID, upstream last. Loopback only.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_answering(url: str, proc: subprocess.Popen[bytes], limit: float = 30.0) -> None:
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if proc.poll() is not None:
            raise SystemExit(f"proxy_pair: {url} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answered (the benchmark's route is a 503)
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"proxy_pair: {url} did not answer within {limit:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    upstream_port = free_port()
    children: list[subprocess.Popen[bytes]] = []

    def stop(*_: int | FrameType | None) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait(10)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    upstream = f"http://127.0.0.1:{upstream_port}"
    children.append(subprocess.Popen(
        [sys.executable, str(HERE / "bare_aiohttp.py"), "--port", str(upstream_port)]))
    wait_answering(upstream + "/v1.0/proj/clusters", children[0])
    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder) / "proxy.yaml"
        scenario.write_text("name: bench-proxy\nrules:\n  - match: {path: '/{rest:path}'}\n    proxy: true\n")
        children.append(subprocess.Popen(
            [sys.executable, "-m", "mockserver", "serve", str(scenario), "--port", str(args.port), "--quiet",
             "--proxy-unmatched", upstream], cwd=ROOT))
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            stop()


if __name__ == "__main__":
    main()
