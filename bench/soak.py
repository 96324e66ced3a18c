"""A bounded soak: mixed load with faults and hot reloads against `mockserver serve`, for minutes.

    .venv/bin/python bench/soak.py                 # 5 minutes (the figures in docs/performance.md)
    .venv/bin/python bench/soak.py --seconds 20    # the short version CI runs

It starts the server as a user would (`mockserver serve --watch` on a scenario folder), drives it
from 64 concurrent clients with a mix of plain answers, delays, sequences, rate limits and
connection faults (resets, closes, truncation, drips), rewrites the scenario file every few
seconds so the server reloads under load, and reports:

- RSS of the server at the start of the measured period and at the end (growth must stay < 10%);
- its open file descriptors, at the start and the end;
- unhandled exceptions: tracebacks in the server's output (must be 0);
- the journal's size, read over the control API (must stay within --journal-size).

Loopback only; every request has a timeout and the whole run a deadline. Exit status 0 when the
targets are met, 1 otherwise. No timing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import aiohttp

SCENARIO = """\
name: soak
seed: {seed}
rules:
  - name: plain
    match: {{method: GET, path: /plain}}
    respond: {{json: {{version: {version}, ok: true}}}}
  - name: templated
    match: {{method: GET, path: "/items/{{id}}"}}
    respond: {{json: {{id: "{{{{ path.id }}}}", q: "{{{{ query.q | default('none') }}}}"}}}}
  - name: create
    match: {{method: POST, path: /items}}
    respond: {{status: 201, json: {{id: "{{{{ request.id }}}}"}}}}
  - name: delayed
    match: {{method: GET, path: /slow}}
    respond: {{delay: {{uniform: [5ms, 50ms]}}, body: late}}
  - name: flaky
    match: {{method: GET, path: /flaky}}
    respond: [{{status: 503, retry_after: 1, repeat: 2}}, {{status: 200}}]
    then: cycle
  - name: limited
    match: {{method: GET, path: /limited}}
    rate_limit: {{rate: 50, burst: 20}}
  - name: chaos
    match: {{method: GET, path: /chaos}}
    respond: {{json: {{items: [1, 2, 3, 4, 5, 6, 7, 8]}}}}
    mix:
      - {{weight: 70}}
      - {{weight: 10, fault: reset}}
      - {{weight: 5, fault: close}}
      - {{weight: 5, fault: {{type: truncate, fraction: 0.5}}}}
      - {{weight: 5, fault: {{type: drip, chunks: 3, over: 30ms}}}}
      - {{weight: 5, respond: {{status: 500}}}}
"""
PATHS = ["/plain", "/items/7?q=x", "/slow", "/flaky", "/limited", "/chaos", "/nowhere"]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def journal_count(url: str) -> int:
    with urllib.request.urlopen(f"{url}/__mock/journal?limit=1", timeout=10) as resp:
        return int(json.load(resp)["count"])


async def client(url: str, deadline: float, seen: Counter[str], worker: int) -> None:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        n = worker
        while time.monotonic() < deadline:
            path = PATHS[n % len(PATHS)]
            n += 1
            try:
                if n % 11 == 0:
                    async with session.post(url + "/items", json={"n": n}) as resp:
                        await resp.read()
                        seen[str(resp.status)] += 1
                    continue
                async with session.get(url + path) as resp:
                    await resp.read()
                    seen[str(resp.status)] += 1
            except (aiohttp.ClientError, TimeoutError):
                seen["connection error"] += 1


async def load(url: str, seconds: float, concurrency: int, scenario: Path, seed: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    workers = [asyncio.create_task(client(url, deadline, seen, i)) for i in range(concurrency)]
    version = 1
    while time.monotonic() < deadline:  # hot reloads under load
        await asyncio.sleep(3)
        version += 1
        tmp = scenario.with_suffix(".tmp")
        tmp.write_text(SCENARIO.format(seed=seed, version=version))
        tmp.replace(scenario)
        seen["reloads"] += 1
    await asyncio.wait_for(asyncio.gather(*workers), 30)
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--warmup", type=float, default=None, help="default: a tenth of the run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--journal-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    warmup = args.warmup if args.warmup is not None else max(2.0, args.seconds / 10)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scenarios"
        folder.mkdir()
        scenario = folder / "soak.yaml"
        scenario.write_text(SCENARIO.format(seed=args.seed, version=1))
        log = Path(tmp) / "server.log"
        with log.open("w") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "mockserver", "serve", str(folder), "--port", "0", "--watch",
                 "--journal-size", str(args.journal_size), "--max-delay", "5"],
                stdout=subprocess.PIPE, stderr=out, text=True)
            try:
                assert server.stdout is not None
                first = server.stdout.readline()
                match = re.search(r"(http://127\.0\.0\.1:\d+)", first)
                if match is None:
                    print(f"server did not start: {first!r}\n{log.read_text()}")
                    return 1
                url = match.group(1)
                asyncio.run(load(url, warmup, args.concurrency, scenario, args.seed))
                rss_start, fds_start = rss_kb(server.pid), fds(server.pid)
                seen = asyncio.run(load(url, args.seconds, args.concurrency, scenario, args.seed))
                time.sleep(1)
                rss_end, fds_end = rss_kb(server.pid), fds(server.pid)
                journal = journal_count(url)
                server.send_signal(signal.SIGTERM)
                code = server.wait(30)
            finally:
                if server.poll() is None:
                    server.kill()
                    server.wait(10)
                if server.stdout is not None:
                    server.stdout.close()
        errors = log.read_text().count("Traceback")

    growth = (rss_end - rss_start) / rss_start if rss_start else 0.0
    answers = sum(v for k, v in seen.items() if k.isdigit())
    checks = {
        "RSS growth < 10%": growth < 0.10,
        "no unhandled exceptions": errors == 0,
        f"journal within {args.journal_size}": journal <= args.journal_size,
        "descriptors back to their count": fds_end <= fds_start + 2,
        "exit code 0 on SIGTERM": code == 0,
    }
    print(f"| soak | {args.seconds:.0f} s, {args.concurrency} clients, {seen['reloads']} reloads |")
    print("|---|---|")
    print(f"| answers | {answers} ({answers / args.seconds:.0f}/s); "
          f"{', '.join(f'{k}: {v}' for k, v in sorted(seen.items()) if k.isdigit())} |")
    print(f"| connection errors (injected faults) | {seen['connection error']} |")
    print(f"| RSS start / end | {rss_start / 1024:.1f} MB / {rss_end / 1024:.1f} MB ({growth:+.1%}) |")
    print(f"| open descriptors start / end | {fds_start} / {fds_end} |")
    print(f"| unhandled exceptions | {errors} |")
    print(f"| journal entries (bound {args.journal_size}) | {journal} |")
    print(f"| exit code on SIGTERM | {code} |")
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
