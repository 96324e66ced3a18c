#!/usr/bin/env python3
"""The dashboard's cost on the static-rule case: without its code, with it and no page, with a page.

    .venv/bin/python bench/dashboard.py              # 3 rounds of 8 s, c=64 (about 3 min)
    .venv/bin/python bench/dashboard.py --smoke      # one short round: the harness runs end to end

"without" is the package as it was just before the dashboard was added (``git archive`` of
that commit), run from a temp folder; "no page" is this tree's; "page open" is this tree's with
a client reading the push channel (/__mock/ui/events) for the whole run, as a browser would.
Each server is pinned to one core and wrk to the other, as in bench/run.py, whose helpers this
reuses; rounds interleave the three servers, in an order that turns, so drift hits all alike.
Printed as medians and as ratios to "without", for req/s and for the server's CPU time per
request.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as harness  # noqa: E402  (bench/run.py: wrk, pinning, servers stopped by PID)

LAUNCH = "import sys; sys.path.insert(0, {folder!r}); import mockserver.cli as c; sys.exit(c.main())"


def before_dashboard() -> str:
    """The commit just before the one that added mockserver/dashboard (the baseline, found in history)."""
    found = subprocess.run(["git", "-C", str(harness.ROOT), "log", "--diff-filter=A", "--format=%H", "--",
                            "mockserver/dashboard/__init__.py"], capture_output=True, text=True, check=True,
                           timeout=60).stdout.split()
    if not found:
        raise SystemExit("no commit adds mockserver/dashboard in this history; pass --without REF")
    return found[-1] + "^"


def exported(ref: str, folder: Path) -> Path:
    """The package as it is at *ref*, unpacked into *folder* (nothing in the work tree changes)."""
    archive = subprocess.run(["git", "-C", str(harness.ROOT), "archive", ref, "mockserver"],
                             capture_output=True, check=True, timeout=60).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True, timeout=60)
    if (folder / "mockserver" / "dashboard").exists():
        raise SystemExit(f"{ref} already has the dashboard: pass --without a commit before it")
    return folder


def spec(name: str, folder: Path | None) -> harness.ServerSpec:
    def argv(port: int) -> list[str]:
        # every server starts the same way, from its own folder: only the package differs
        serve = ["serve", str(harness.STATIC_SCENARIO), "--port", str(port)]
        return [sys.executable, "-c", LAUNCH.format(folder=str(folder or harness.ROOT)), *serve]

    return harness.ServerSpec(name, argv)


class Page(threading.Thread):
    """Reads the push channel like an open dashboard, until stopped; counts what it was sent."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.received = 0
        self.done = threading.Event()
        self.sock = socket.create_connection((harness.HOST, port), timeout=5)
        self.sock.sendall(b"GET /__mock/ui/events HTTP/1.1\r\nHost: bench\r\n"
                          b"Accept: text/event-stream\r\n\r\n")
        head = self.sock.recv(65536)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the push channel answered {head[:80]!r}")

    def run(self) -> None:
        self.sock.settimeout(0.5)
        while not self.done.is_set():
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not chunk:
                break
            self.received += len(chunk)

    def stop(self) -> None:
        self.done.set()
        self.join(5)
        self.sock.close()


def measure(server: harness.Running, args: argparse.Namespace, pin: harness.Pinning, rnd: int,
            page: bool) -> tuple[float, float | None, int]:
    reader = Page(server.port) if page else None
    if reader is not None:
        reader.start()
    try:
        sample = harness.measure(server, args, pin, "dashboard", harness.STATIC_PATH, args.conns, rnd)
    finally:
        if reader is not None:
            reader.stop()
    # the server's CPU time per request: steadier than req/s when other work shares the machine
    cpu_us = sample.cpu_pct / 100 / sample.rps * 1e6 if sample.cpu_pct is not None and sample.rps else None
    return sample.rps, cpu_us, reader.received if reader is not None else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one short round")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds per measured run")
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--without", default=None,
                        help="the git ref without the dashboard (default: the commit before it was added)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.smoke else 3)
    args.duration = args.duration or (1.0 if args.smoke else 8.0)
    args.warmup = 1.0 if args.smoke else 3.0
    args.wrk, args.wrk_timeout, args.settle_limit, args.pause = harness.ensure_wrk(), 10, 10.0, 0.5
    pin = harness.Pinning.detect()
    harness.log(f"pinning: {pin.note}")
    results: dict[str, list[float]] = {"without": [], "no page": [], "page open": []}
    cpu: dict[str, list[float]] = {name: [] for name in results}
    pushed: list[int] = []
    with tempfile.TemporaryDirectory(prefix="mockserver-bench-dash-") as tmp:
        old = exported(args.without or before_dashboard(), Path(tmp))
        logdir = Path(tmp)
        servers = [("without", old, False), ("no page", None, False), ("page open", None, True)]
        for rnd in range(args.rounds):
            # the order turns each round: whoever runs first (or after the page) is not always the same
            for name, folder, page in servers[rnd % 3:] + servers[:rnd % 3]:
                with harness.Running(spec(name, folder), pin.server, logdir) as server:
                    harness.check_routes(server)
                    page_status = harness.get(server.port, "/__mock/ui")[0]
                    if page_status != (404 if folder is not None else 200):  # the right code runs
                        raise RuntimeError(f"{name}: GET /__mock/ui answered {page_status}")
                    rps, cpu_us, received = measure(server, args, pin, rnd, page)
                results[name].append(rps)
                if cpu_us is not None:
                    cpu[name].append(cpu_us)
                if page:
                    pushed.append(received)
                harness.log(f"round {rnd + 1}: {name}: {rps:,.0f} req/s, {cpu_us or 0:.0f} us CPU/request"
                            + (f", {received / 1e6:.1f} MB pushed" if page else ""))
    base = statistics.median(results["without"])
    cpu_base = statistics.median(cpu["without"]) if cpu["without"] else None
    print(f"\nstatic rule, c={args.conns}, {args.rounds} round(s) of {args.duration:g} s; {pin.note}\n")
    print("| server | req/s (median) | vs without | per-round ratio (median) "
          "| server CPU per request (median) | vs without | per-round ratio (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, values in results.items():
        median = statistics.median(values)
        # each round's figure against "without" in the same round: load that shifts mid-run cancels
        paired = statistics.median(v / w for v, w in zip(values, results["without"], strict=True))
        per = statistics.median(cpu[name]) if cpu[name] else None
        cpu_cells = "n/a | n/a | n/a"
        if per is not None and cpu_base and len(cpu[name]) == len(cpu["without"]):
            cpu_paired = statistics.median(v / w for v, w in zip(cpu[name], cpu["without"], strict=True))
            cpu_cells = f"{per:.0f} us | {per / cpu_base:.3f}x | {cpu_paired:.3f}x"
        print(f"| {name} | {median:,.0f} | {median / base:.3f}x | {paired:.3f}x | {cpu_cells} |")
    print(f"\nthe open page was pushed {statistics.median(pushed) / 1e6:.1f} MB per run (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
