#!/usr/bin/env python3
"""Scale-out costs, all in one run: `serve --workers 2` against one worker, and the Redis backend
against the in-memory one on a sequence rule and a token bucket.

    .venv/bin/python bench/scale_out.py [--seconds 5] [--conns 64]

Part 1 (throughput): bare aiohttp (one process, the usual ceiling), `mockserver serve --workers 1`
and `--workers 2` on a static rule, each driven by wrk with two threads; nothing is pinned, since
two workers need both cores (wrk shares them: the ratio is honest for this machine, not a
ceiling). Part 2 (latency): one mockserver pinned to core 0, wrk on core 1, `--state memory` then
`--state redis://...`, on a sequence rule and on a token bucket: req/s, p50 and p99 as ratios to
memory. Starts its own redis-server (127.0.0.1, a free port, no persistence) and stops every
process it started by PID, also on failure. Loopback only; bounded in time (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from state import free_port, running  # noqa: E402  (bench/ is scripts, not a package)

SCENARIO = """\
name: scale-out-bench
rules:
  - name: static
    match: {path: /v1.0/proj/clusters}
    respond: {status: 503, json: {error_code: CSS.0001, error_msg: Service unavailable}}
  - name: seq
    match: {path: /seq}
    respond:
      - {status: 503, repeat: 2}
      - {status: 200}
    then: cycle
  - name: bucket
    match: {path: /bucket}
    rate_limit: {rate: 2000, per: 1s, burst: 2000}
    respond: {status: 200}
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(pin: list[str], port: int, path: str, conns: int, seconds: int, threads: int = 1
        ) -> tuple[float, float, float]:
    """req/s, p50 and p99 in ms."""
    done = subprocess.run([*pin, "wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency",
                           f"http://127.0.0.1:{port}{path}"],
                          capture_output=True, text=True, timeout=seconds + 60, check=True)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)$", done.stdout, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)$", done.stdout, re.M)
    if rate is None or p50 is None or p99 is None:
        raise RuntimeError(f"wrk gave no rate or latency: {done.stdout[-500:]} {done.stderr[-500:]}")
    return (float(rate.group(1)), float(p50.group(1)) * UNITS[p50.group(2)],
            float(p99.group(1)) * UNITS[p99.group(2)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--conns", type=int, default=64)
    args = parser.parse_args()
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            print(f"bench/scale_out.py: {tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 1
    two = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    server_pin, load_pin = (["taskset", "-c", "0"], ["taskset", "-c", "1"]) if two else ([], [])
    tmp = Path(tempfile.mkdtemp(prefix="mockserver-scale-bench-"))
    scenario = str(tmp / "bench.yaml")
    Path(scenario).write_text(SCENARIO)
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp)]
    static = "/v1.0/proj/clusters"
    throughput: dict[str, float] = {}
    latency: dict[tuple[str, str], tuple[float, float, float]] = {}
    try:
        with running(redis, redis_port):
            port = free_port()
            bare = [sys.executable, str(HERE / "servers" / "bare_aiohttp.py"), "--port", str(port)]
            with running(bare, port):
                wrk([], port, static, args.conns, 1, threads=2)
                throughput["bare aiohttp (1 process)"] = wrk([], port, static, args.conns, args.seconds, 2)[0]
            for workers in (1, 2):
                port = free_port()
                serve = [sys.executable, "-m", "mockserver", "serve", "--quiet", "--port", str(port),
                         "--workers", str(workers), "--state", redis_url, scenario]
                with running(serve, port):
                    wrk([], port, static, args.conns, 1, threads=2)
                    throughput[f"mockserver --workers {workers}"] = wrk([], port, static, args.conns,
                                                                        args.seconds, 2)[0]
            for state in ("memory", redis_url):
                port = free_port()
                serve = [*server_pin, sys.executable, "-m", "mockserver", "serve", "--quiet", "--port",
                         str(port), "--state", state, "--state-prefix", f"bench-{os.getpid()}", scenario]
                with running(serve, port):
                    for path in ("/seq", "/bucket"):
                        wrk(load_pin, port, path, args.conns, 1)  # warm-up
                        latency[(state.split(":")[0], path)] = wrk(load_pin, port, path, args.conns,
                                                                   args.seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = throughput["bare aiohttp (1 process)"]
    one = throughput["mockserver --workers 1"]
    print(f"static rule, {args.conns} connections, wrk -t2, {os.cpu_count()} cores, nothing pinned\n")
    print("| server | req/s | vs bare aiohttp | vs --workers 1 |\n|---|---|---|---|")
    for name, rate in throughput.items():
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f} | {rate / one:.2f} |")
    print(f"\none process on core 0, wrk -t1 -c{args.conns} on core 1\n")
    print("| rule | state | req/s | p50 ms | p99 ms | req/s vs memory | p50 vs memory | p99 vs memory |\n"
          "|---|---|---|---|---|---|---|---|")
    for (state, path), (rate, p50, p99) in latency.items():
        m_rate, m50, m99 = latency[("memory", path)]
        print(f"| {path} | {state} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {rate / m_rate:.2f} | "
              f"{p50 / m50:.2f} | {p99 / m99:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
