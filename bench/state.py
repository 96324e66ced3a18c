#!/usr/bin/env python3
"""The state backend's cost: a sequence rule served with memory state and with Redis state.

    .venv/bin/python bench/state.py [--seconds 5] [--conns 64]

Starts its own redis-server (127.0.0.1, a free port, no persistence), then one server at a time
(bare aiohttp, mockserver --state memory, mockserver --state redis://...) pinned to core 0 with
taskset when there are two cores, and drives each with wrk (core 1). Prints req/s and the ratios
to bare aiohttp and to memory state, measured in the same run (docs/scale-out.md). Every process it
starts is stopped by PID, also on failure. Loopback only; bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIO = """\
name: state-bench
rules:
  - name: seq
    match: {path: /seq}
    respond:
      - {status: 503, repeat: 2}
      - {status: 200}
    then: cycle
  - name: static
    match: {path: /v1.0/proj/clusters}
    respond: {status: 503, json: {error_code: CSS.0001, error_msg: Service unavailable}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {limit:g}s")


@contextlib.contextmanager
def running(argv: list[str], port: int) -> Iterator[None]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def wrk(pin: list[str], port: int, path: str, conns: int, seconds: int) -> float:
    done = subprocess.run([*pin, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"],
                          capture_output=True, text=True, timeout=seconds + 60, check=True)
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if found is None:
        raise RuntimeError(f"wrk gave no rate: {done.stdout[-500:]} {done.stderr[-500:]}")
    return float(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--conns", type=int, default=64)
    args = parser.parse_args()
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            print(f"bench/state.py: {tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 1
    two = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    server_pin, load_pin = (["taskset", "-c", "0"], ["taskset", "-c", "1"]) if two else ([], [])
    tmp = Path(tempfile.mkdtemp(prefix="mockserver-state-bench-"))
    (tmp / "bench.yaml").write_text(SCENARIO)
    redis_port = free_port()
    redis = [*load_pin, "redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp)]
    rates: dict[tuple[str, str], float] = {}
    with running(redis, redis_port):
        port = free_port()
        bare = [*server_pin, sys.executable, str(HERE / "servers" / "bare_aiohttp.py"), "--port", str(port)]
        with running(bare, port):
            wrk(load_pin, port, "/v1.0/proj/clusters", args.conns, 1)
            rates[("bare aiohttp", "/v1.0/proj/clusters")] = wrk(load_pin, port, "/v1.0/proj/clusters",
                                                                  args.conns, args.seconds)
        for state in ("memory", f"redis://127.0.0.1:{redis_port}/0"):
            port = free_port()
            serve = [*server_pin, sys.executable, "-m", "mockserver", "serve", "--quiet", "--port", str(port),
                     "--state", state, str(tmp / "bench.yaml")]
            with running(serve, port):
                for path in ("/v1.0/proj/clusters", "/seq"):
                    wrk(load_pin, port, path, args.conns, 1)  # warm-up
                    rates[(state.split(":")[0], path)] = wrk(load_pin, port, path, args.conns, args.seconds)
    shutil.rmtree(tmp, ignore_errors=True)
    base = rates[("bare aiohttp", "/v1.0/proj/clusters")]
    print("| server | path | c | req/s | vs bare aiohttp | vs memory state |\n|---|---|---|---|---|---|")
    for (server, path), rate in rates.items():
        memory = rates.get(("memory", path))
        print(f"| {server} | {path} | {args.conns} | {rate:,.0f} | {rate / base:.2f} | "
              f"{rate / memory:.2f} |" if memory else f"| {server} | {path} | {args.conns} | {rate:,.0f} | "
              f"{rate / base:.2f} | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
