#!/usr/bin/env python3
"""Benchmark harness: mockserver against bare aiohttp on the same routes, core and run.

    .venv/bin/python bench/run.py              # the full run: 3 rounds, ~10 min on 2 cores
    .venv/bin/python bench/run.py --smoke      # CI: every case once, a few seconds each
    .venv/bin/python bench/run.py --profile    # py-spy on mockserver and bare aiohttp, case 1 load

It installs what it needs (wrk from Debian; uvloop, py-spy and the npm peers only when asked
for), starts one server at a time pinned to one core with ``taskset``, drives it with wrk pinned
to the other, and prints a markdown table of medians and of the ratios the targets are stated
in (docs/performance.md). Every server it starts is stopped by PID, also on failure; every load
run is bounded in time. Loopback only.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import glob
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "wrk_report.lua"
STATIC_SCENARIO = HERE / "scenarios" / "static.yaml"
CHAOS_SCENARIO = HERE / "scenarios" / "chaos_mix.yaml"
TEMPLATED_SCENARIO = HERE / "scenarios" / "templated.yaml"
RESULTS = HERE / "results"  # git-ignored
DOC = ROOT / "docs" / "performance.md"
DOC_BEGIN, DOC_END = "<!-- bench:begin -->", "<!-- bench:end -->"

STATIC_PATH = "/v1.0/proj/clusters"
TEMPLATED_PATH = "/v1.0/proj/clusters/c42?limit=25&offset=50"  # case 8: a templated JSON answer
RESOURCES_SCENARIO = HERE / "scenarios" / "resources.yaml"
RESOURCES_PATH = "/v1.0/proj/items?offset=500&limit=25"  # case 10: a page of a 1,000-item collection
SLOW_PATH = "/slow"
BODY = b'{"error_code":"CSS.0001","error_msg":"Service unavailable"}'
HOST = "127.0.0.1"
PEER_VERSIONS = {"wiremock": "3.13.2", "mountebank": "2.9.1"}

TARGETS = {
    "1": "mockserver >= 0.6x bare aiohttp req/s (c=1 and c=64)",
    "2": "1,000 rules >= 0.9x case 1 (mockserver, same connections)",
    "3": "mockserver >= 0.97x bare aiohttp req/s; p99 within +10 ms",
    "4": "reported only",
    "5": "every connection served again after the hold",
    "6": "mockserver peak RSS <= 1.5x bare aiohttp (case 3)",
    "7": "reset() < 1 ms; cold start < 300 ms (medians)",
    "8": "templated rule >= 0.5x bare aiohttp building the same JSON (c=1 and c=64)",
    "9": "reported: req/s and added latency through the proxy vs direct to the same upstream",
    "10": "reported: a resource list (25 of 1,000 items) vs bare aiohttp paging the same list",
}


def log(message: str) -> None:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


# --- what the harness needs on the machine ------------------------------------------------------


def run_quiet(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def ensure_wrk() -> str:
    """wrk on PATH, installed from Debian when missing (apt-get update only if the install fails)."""
    found = shutil.which("wrk")
    if found:
        return found
    if not shutil.which("apt-get"):
        raise SystemExit("bench: wrk is missing and there is no apt-get to install it with")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    log("wrk is missing: apt-get install wrk")
    install = [*sudo, "apt-get", "install", "-y", "--no-install-recommends", "wrk"]
    if run_quiet(install, 600).returncode != 0:
        log("apt-get install failed: apt-get update, then again")
        run_quiet([*sudo, "apt-get", "update"], 600)
        done = run_quiet(install, 600)
        if done.returncode != 0:
            raise SystemExit(f"bench: cannot install wrk:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk installed but not on PATH")
    return found


def ensure_module(module: str, package: str) -> None:
    """Install *package* into the running venv when *module* cannot be imported (not declared)."""
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, check=False)
    if probe.returncode == 0:
        return
    log(f"{module} is missing: pip install {package}")
    done = run_quiet([sys.executable, "-m", "pip", "install", "--quiet", package], 600)
    if done.returncode != 0:
        raise SystemExit(f"bench: cannot install {package}:\n{done.stderr[-2000:]}")


def ensure_py_spy() -> str:
    """py-spy (a binary in a wheel) next to the running python, pip-installed when missing."""
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists():
        log("py-spy is missing: pip install py-spy")
        done = run_quiet([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], 600)
        if done.returncode != 0 or not exe.exists():
            raise SystemExit(f"bench: cannot install py-spy:\n{done.stderr[-2000:]}")
    return str(exe)


def ensure_peers(cache: Path) -> Path:
    """npm install the peers into *cache* (once); returns its node_modules."""
    modules = cache / "node_modules"
    wanted = [f"{name}@{version}" for name, version in PEER_VERSIONS.items()]
    if all((modules / name / "package.json").exists() for name in PEER_VERSIONS):
        return modules
    if not shutil.which("npm"):
        raise SystemExit("bench: --peers needs npm (and java for WireMock)")
    cache.mkdir(parents=True, exist_ok=True)
    log(f"npm install {' '.join(wanted)} into {cache}")
    done = run_quiet(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache), *wanted], 900)
    if done.returncode != 0:
        raise SystemExit(f"bench: npm install failed:\n{done.stderr[-3000:]}")
    return modules


def raise_nofile(want: int) -> int:
    """Raise the open-files limit (inherited by servers and clients); the limit in force."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in ((max(want, hard), max(want, hard)), (hard, hard)):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
            break
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass(frozen=True)
class Pinning:
    server: list[str]
    load: list[str]
    note: str
    server_cpu: int | None = None
    load_cpu: int | None = None

    @classmethod
    def detect(cls) -> Pinning:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2 and shutil.which("taskset"):
            return cls(
                ["taskset", "-c", str(cpus[0])],
                ["taskset", "-c", str(cpus[1])],
                f"server on core {cpus[0]}, load and harness on core {cpus[1]} (taskset)",
                cpus[0],
                cpus[1],
            )
        return cls([], [], f"not pinned: {len(cpus)} usable core(s)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def mockserver_argv() -> list[str]:
    script = Path(sys.executable).parent / "mockserver"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mockserver"]


# --- /proc --------------------------------------------------------------------------------------


def proc_status_kb(pid: int, key: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # after the command name: field 14 (utime) and 15 (stime) of proc(5) are at 11 and 12 here
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_busy_seconds(cpu: int | None) -> float | None:
    """Time core *cpu* ran processes or was stolen by the hypervisor (/proc/stat), in seconds.

    Interrupt and softirq time are left out: loopback networking of the benchmark itself is
    accounted there."""
    if cpu is None:
        return None
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, *values = line.split()
        if name == f"cpu{cpu}":
            user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(v) for v in values[:8])
            return (user + nice + system + steal) / os.sysconf("SC_CLK_TCK")
    return None


def listen_overflows() -> int:
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenOverflows", 0))
    return 0


# --- servers ------------------------------------------------------------------------------------


@dataclass
class ServerSpec:
    """How to start one server on a given port; *check* names the routes it must answer right."""

    name: str
    argv: Callable[[int], list[str]]
    check: str = "static"  # static | chaos
    extra_ports: int = 0  # mountebank also needs a control port


class Running:
    """One server process, pinned, started and always stopped by PID."""

    def __init__(self, spec: ServerSpec, pin: list[str], logdir: Path) -> None:
        self.spec = spec
        self.port = free_port()
        self.pin = pin
        self.logfile = logdir / f"{spec.name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> Running:
        argv = [*self.pin, *self.spec.argv(self.port)]
        with self.logfile.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, stdin=subprocess.DEVNULL
            )
        try:
            self.started_s = self.wait_answering(60.0)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_answering(self, limit: float) -> float:
        began = time.monotonic()
        while time.monotonic() - began < limit:
            assert self.proc is not None
            if self.proc.poll() is not None:
                last = self.logfile.read_text(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"{self.spec.name} exited with {self.proc.returncode}: {' | '.join(last)}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                get(self.port, STATIC_PATH, timeout=1.0)
                return time.monotonic() - began
            time.sleep(0.05)
        raise RuntimeError(f"{self.spec.name} did not answer within {limit:.0f}s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes, float]:
    began = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, time.monotonic() - began
    finally:
        conn.close()


def check_routes(server: Running) -> None:
    """The routes answer what the benchmark claims to measure, before any load."""
    status, headers, body, _ = get(server.port, STATIC_PATH)
    problems = []
    if server.spec.check == "static":
        if status != 503:
            problems.append(f"status {status}, expected 503")
        if headers.get("retry-after") != "1":
            problems.append(f"Retry-After {headers.get('retry-after')!r}")
        if not headers.get("content-type", "").startswith("application/json"):
            problems.append(f"Content-Type {headers.get('content-type')!r}")
        if body != BODY:
            problems.append(f"body {body[:80]!r}")
        status, _, _, took = get(server.port, SLOW_PATH)
        if status != 200 or took < 0.095:
            problems.append(
                f"/slow answered {status} after {took * 1e3:.1f} ms (expected 200 after >= 100 ms)"
            )
    if server.spec.name in ("aiohttp", "mockserver-resources"):  # case 10: both page the same list
        status, _, body, _ = get(server.port, RESOURCES_PATH)
        if status != 200 or json.loads(body)["items"][0]["id"] != "item-0500":
            problems.append(f"{RESOURCES_PATH} answered {status} {body[:120]!r}")
    if server.spec.name in ("aiohttp", "mockserver-templated"):  # case 8: both build the same JSON
        status, _, body, _ = get(server.port, TEMPLATED_PATH)
        answer = json.loads(body) if status == 200 else None
        if not isinstance(answer, dict) or {k: v for k, v in answer.items() if k != "agent"} != {
                "id": "c42", "limit": 25, "next": "/v1.0/proj/clusters?offset=75"}:
            problems.append(f"{TEMPLATED_PATH} answered {status} {body[:120]!r}")
    if problems:
        raise RuntimeError(f"{server.spec.name}: " + "; ".join(problems))


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    case: str
    server: str
    conns: int
    path: str
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    socket_errors: int
    non_2xx: int
    cpu_pct: float | None
    listen_overflows: int
    peak_rss_mb: float | None = None
    other_load_pct: float | None = None  # the server core's busy time not spent by the server


def wrk(
    args: argparse.Namespace, pin: list[str], port: int, path: str, conns: int, duration: float
) -> dict[str, Any]:
    seconds = max(1, round(duration))
    argv = [
        *pin,
        args.wrk,
        "-t1",
        f"-c{conns}",
        f"-d{seconds}s",
        "--timeout",
        f"{args.wrk_timeout}s",
        "-s",
        str(LUA),
        f"http://{HOST}:{port}{path}",
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + args.wrk_timeout + 30, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result: dict[str, Any] = json.loads(line[len("WRK_JSON ") :])
            return result
    raise RuntimeError(f"wrk gave no report (exit {done.returncode}): {done.stderr[-1000:]}")


def settle(server: Running, args: argparse.Namespace) -> None:
    """After a warm-up, wait until a probe is answered within 50 ms (bounded), then a pause."""
    began = time.monotonic()
    while time.monotonic() - began < args.settle_limit:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if get(server.port, STATIC_PATH, timeout=2.0)[3] < 0.05:
                break
        time.sleep(0.1)
    time.sleep(args.pause)


def measure(
    server: Running, args: argparse.Namespace, pin: Pinning, case: str, path: str, conns: int, rnd: int
) -> Sample:
    if args.warmup > 0:
        wrk(args, pin.load, server.port, path, conns, args.warmup)
        settle(server, args)
    core0 = core_busy_seconds(pin.server_cpu)
    cpu0, of0, t0 = proc_cpu_seconds(server.pid), listen_overflows(), time.monotonic()
    result = wrk(args, pin.load, server.port, path, conns, args.duration)
    cpu1, of1, t1 = proc_cpu_seconds(server.pid), listen_overflows(), time.monotonic()
    core1 = core_busy_seconds(pin.server_cpu)
    cpu = None if cpu0 is None or cpu1 is None else round(100 * (cpu1 - cpu0) / (t1 - t0), 1)
    # what else ran on the server's core (other processes, hypervisor steal): noise
    other = None
    if cpu is not None and core0 is not None and core1 is not None:
        other = round(max(0.0, 100 * (core1 - core0) / (t1 - t0) - cpu), 1)
    lat, err = result["latency_us"], result["errors"]
    seconds = result["duration_us"] / 1e6
    return Sample(
        case=case,
        server=server.spec.name,
        conns=conns,
        path=path,
        round=rnd,
        rps=result["requests"] / seconds if seconds else 0.0,
        p50_ms=lat["p50"] / 1e3,
        p99_ms=lat["p99"] / 1e3,
        max_ms=lat["max"] / 1e3,
        requests=result["requests"],
        socket_errors=err["connect"] + err["read"] + err["write"] + err["timeout"],
        non_2xx=err["status"],
        cpu_pct=cpu,
        listen_overflows=of1 - of0,
        other_load_pct=other,
    )


# --- the cases ----------------------------------------------------------------------------------


def thousand_rules(folder: Path) -> Path:
    """1,000 rules; the measured one (case 1's) is number 996, and five rules on the same path
    that miss (method, query, header) are tried before it.

    The 990 others are on other paths: 30% templated GETs, 20% literal POSTs, 20% with a query
    test, 20% with a header test and 10% regex paths (99 rules), about the share of regex paths
    in the built-in CSS catalogue. The index prunes all but the regex ones, which are candidates
    for every request."""
    rules: list[dict[str, Any]] = []
    for i in range(990):
        kind = (0, 0, 0, 1, 1, 2, 2, 3, 3, 4)[i % 10]
        if kind == 0:
            rules.append(
                {
                    "name": f"get-{i}",
                    "match": {"method": "GET", "path": f"/v1.0/{{project_id}}/res{i}/{{id}}"},
                    "respond": {"json": {"id": "{{ path.id }}", "n": i}},
                }
            )
        elif kind == 1:
            rules.append(
                {
                    "name": f"post-{i}",
                    "match": {"method": "POST", "path": f"/v1.0/proj/items{i}"},
                    "respond": {"status": 201},
                }
            )
        elif kind == 2:
            rules.append(
                {
                    "name": f"query-{i}",
                    "match": {"path": f"/api/v2/things/{i}", "query": {"limit": {"regex": r"^\d+$"}}},
                    "respond": {"json": {"things": []}},
                }
            )
        elif kind == 3:
            rules.append(
                {
                    "name": f"op-{i}",
                    "match": {
                        "method": ["GET", "HEAD"],
                        "path": f"/v1.0/{{project_id}}/clusters/{{id}}/op{i}",
                        "headers": {"X-Auth-Token": {"present": True}},
                    },
                    "respond": [
                        {"status": 503, "headers": {"Retry-After": "1"}, "repeat": 2},
                        {"status": 200},
                    ],
                }
            )
        else:
            rules.append(
                {
                    "name": f"regex-{i}",
                    "match": {"path": {"regex": f"^/files/f{i}/[a-z]+\\.txt$"}},
                    "respond": {"body": "file"},
                }
            )
    rules += [  # same path as the measured rule, tried first, each misses on one field
        {"name": "near-post", "match": {"method": "POST", "path": STATIC_PATH}, "respond": {"status": 201}},
        {
            "name": "near-query",
            "match": {"method": "GET", "path": "/v1.0/{project_id}/clusters", "query": {"marker": "m1"}},
            "respond": {"json": {}},
        },
        {
            "name": "near-header",
            "match": {
                "method": "GET",
                "path": "/v1.0/{project_id}/clusters",
                "headers": {"X-Auth-Token": {"present": True}},
            },
            "respond": {"json": {}},
        },
        {
            "name": "near-limit",
            "match": {"method": "GET", "path": STATIC_PATH, "query": {"limit": {"regex": r"^\d+$"}}},
            "respond": {"json": {}},
        },
        {
            "name": "near-delete",
            "match": {"method": "DELETE", "path": "/v1.0/{project_id}/clusters"},
            "respond": {"status": 204},
        },
    ]
    rules.append(
        {
            "name": "clusters-unavailable",
            "match": {"method": "GET", "path": STATIC_PATH},
            "respond": {
                "status": 503,
                "headers": {"Retry-After": "1", "Content-Type": "application/json"},
                "body": BODY.decode(),
            },
        }
    )
    rules.append(
        {
            "name": "slow",
            "match": {"method": "GET", "path": SLOW_PATH},
            "respond": {
                "delay": "100ms",
                "headers": {"Content-Type": "application/json"},
                "body": '{"ok":true}',
            },
        }
    )
    rules += [
        {
            "name": f"tail-{i}",
            "match": {"method": "PUT", "path": f"/v1.0/proj/tail{i}"},
            "respond": {"status": 204},
        }
        for i in range(1000 - len(rules))
    ]
    assert len(rules) == 1000
    path = folder / "rules1000.json"  # JSON is YAML; it loads faster than the YAML of 1,000 rules
    path.write_text(json.dumps({"name": "bench-1000", "rules": rules}, indent=1))
    return path


def validate(path: Path) -> tuple[bool, str]:
    done = subprocess.run(
        [*mockserver_argv(), "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def chaos_path(path: Path) -> str:
    """The route case 4 loads: case 1's path if the chaos scenario serves it, else its first
    literal path."""
    try:
        import yaml

        data = yaml.safe_load(path.read_text())
        paths = [r.get("match", {}).get("path") for r in data.get("rules", []) if isinstance(r, dict)]
    except Exception:
        return STATIC_PATH
    literal = [p for p in paths if isinstance(p, str) and "{" not in p]
    return STATIC_PATH if not literal or STATIC_PATH in literal else literal[0]


@dataclass
class Plan:
    """What a run does: servers per case, and which cases are skipped and why."""

    load: list[tuple[str, ServerSpec, list[tuple[str, int]], bool]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    idle: list[ServerSpec] = field(default_factory=list)


def peer_specs(args: argparse.Namespace, work: Path) -> list[ServerSpec]:
    modules = ensure_peers(Path(args.peers_dir))
    specs: list[ServerSpec] = []
    jars = glob.glob(str(modules / "wiremock" / "**" / "wiremock-standalone-*.jar"), recursive=True)
    if jars and shutil.which("java"):
        root = work / "wiremock"
        (root / "mappings").mkdir(parents=True, exist_ok=True)
        (root / "mappings" / "a.json").write_text(
            json.dumps(
                {
                    "request": {"method": "GET", "url": STATIC_PATH},
                    "response": {
                        "status": 503,
                        "body": BODY.decode(),
                        "headers": {"Retry-After": "1", "Content-Type": "application/json"},
                    },
                }
            )
        )
        (root / "mappings" / "b.json").write_text(
            json.dumps(
                {
                    "request": {"method": "GET", "url": SLOW_PATH},
                    "response": {
                        "status": 200,
                        "body": '{"ok":true}',
                        "fixedDelayMilliseconds": 100,
                        "headers": {"Content-Type": "application/json"},
                    },
                }
            )
        )
        specs.append(
            ServerSpec(
                "wiremock-async-nojournal",
                lambda port: [
                    "java",
                    "-jar",
                    jars[0],
                    "--port",
                    str(port),
                    "--bind-address",
                    HOST,
                    "--root-dir",
                    str(root),
                    "--disable-banner",
                    "--async-response-enabled",
                    "true",
                    "--no-request-journal",
                ],
            )
        )
    else:
        log("peers: WireMock skipped (jar or java missing)")
    mb = modules / "mountebank" / "bin" / "mb"
    if mb.exists() and shutil.which("node"):

        def mountebank(port: int) -> list[str]:
            keep = {"Content-Type": "application/json", "Connection": "keep-alive"}
            imposters = {
                "imposters": [
                    {
                        "protocol": "http",
                        "port": port,
                        "host": HOST,
                        "stubs": [
                            {
                                "predicates": [{"equals": {"method": "GET", "path": STATIC_PATH}}],
                                "responses": [
                                    {
                                        "is": {
                                            "statusCode": 503,
                                            "headers": {**keep, "Retry-After": "1"},
                                            "body": BODY.decode(),
                                        }
                                    }
                                ],
                            },
                            {
                                "predicates": [{"equals": {"method": "GET", "path": SLOW_PATH}}],
                                "responses": [
                                    {
                                        "is": {"statusCode": 200, "headers": keep, "body": '{"ok":true}'},
                                        "behaviors": [{"wait": 100}],
                                    }
                                ],
                            },
                        ],
                    }
                ]
            }
            config = work / f"imposters-{port}.json"
            config.write_text(json.dumps(imposters))
            return [
                "node",
                str(mb),
                "start",
                "--port",
                str(free_port()),
                "--host",
                HOST,
                "--localOnly",
                "--configfile",
                str(config),
                "--noParse",
                "--nologfile",
                "--loglevel",
                "warn",
            ]

        specs.append(ServerSpec("mountebank-keepalive", mountebank))
    else:
        log("peers: mountebank skipped (package or node missing)")
    return specs


def bare_spec(uvloop: bool = False) -> ServerSpec:
    script = str(HERE / "servers" / "bare_aiohttp.py")
    extra = ["--uvloop"] if uvloop else []
    name = "aiohttp-uvloop" if uvloop else "aiohttp"
    return ServerSpec(name, lambda port: [sys.executable, script, "--port", str(port), *extra])


def mock_spec(name: str, scenario: Path, check: str = "static", extra: tuple[str, ...] = ()) -> ServerSpec:
    return ServerSpec(
        name,
        # --quiet: the line per exchange costs about a quarter of the throughput at 64 connections
        # (docs/performance.md, "The line per exchange"); a load test turns it off too
        lambda port: [*mockserver_argv(), "serve", str(scenario), "--port", str(port), "--quiet", *extra],
        check=check,
    )


def make_plan(args: argparse.Namespace, work: Path) -> Plan:
    bare, mock = bare_spec(), mock_spec("mockserver", STATIC_SCENARIO)
    baselines = [bare]
    if args.uvloop:
        ensure_module("uvloop", "uvloop")
        baselines.append(bare_spec(uvloop=True))
        baselines.append(mock_spec("mockserver-uvloop", STATIC_SCENARIO, extra=("--loop", "uvloop")))
    peers = peer_specs(args, work) if args.peers else []
    plan = Plan()
    cases = set(args.cases)
    if "1" in cases:
        for spec in [*baselines, mock, *peers]:
            plan.load.append(("1", spec, [(STATIC_PATH, 1), (STATIC_PATH, 64)], False))
    if "2" in cases:
        rules = thousand_rules(work)
        ok, output = validate(rules)
        if not ok:
            raise SystemExit(f"bench: the generated 1,000-rule scenario does not validate:\n{output}")
        many = mock_spec("mockserver-1000-rules", rules)
        plan.load.append(("2", many, [(STATIC_PATH, 1), (STATIC_PATH, 64)], False))
    if cases & {"3", "6"}:
        for spec in [*baselines, mock, *peers]:
            plan.load.append(("3", spec, [(SLOW_PATH, 1000)], True))
    if "4" in cases:
        chaos_file = Path(args.chaos_file)
        ok, output = validate(chaos_file) if chaos_file.exists() else (False, "")
        if ok:
            path = chaos_path(chaos_file)
            chaos = mock_spec("mockserver-chaos", chaos_file, check="chaos")
            plan.load.append(("4", chaos, [(path, 64)], False))
        else:
            plan.skipped["4"] = f"not run: {chaos_file.name} missing or invalid"
            if output:
                log(f"case 4: {chaos_file} does not validate:\n{output}")
    if "8" in cases:
        templated = mock_spec("mockserver-templated", TEMPLATED_SCENARIO)
        for spec in (bare, templated):
            plan.load.append(("8", spec, [(TEMPLATED_PATH, 1), (TEMPLATED_PATH, 64)], False))
    if "9" in cases:
        # the same bare aiohttp upstream, direct and with mockserver forwarding in front of it;
        # the pair shares the server core, so the ratio is what a proxy costs on one core
        pair = ServerSpec("mockserver-proxy", lambda port: [
            sys.executable, str(HERE / "servers" / "proxy_pair.py"), "--port", str(port)])
        for spec in (bare, pair):
            plan.load.append(("9", spec, [(STATIC_PATH, 1), (STATIC_PATH, 64)], False))
    if "10" in cases:
        listing = mock_spec("mockserver-resources", RESOURCES_SCENARIO)
        for spec in (bare, listing):
            plan.load.append(("10", spec, [(RESOURCES_PATH, 1), (RESOURCES_PATH, 64)], False))
    if "5" in cases:
        plan.idle = [bare, mock]
    return plan


def run_rounds(
    args: argparse.Namespace, plan: Plan, pin: Pinning, logdir: Path, failures: list[str]
) -> list[Sample]:
    samples: list[Sample] = []
    by_case: dict[str, list[tuple[ServerSpec, list[tuple[str, int]], bool]]] = collections.defaultdict(list)
    for case, spec, loads, rss in plan.load:
        by_case[case].append((spec, loads, rss))
    for rnd in range(1, args.rounds + 1):
        for case, jobs in by_case.items():
            shift = (rnd - 1) % len(jobs)  # rotate the order of servers from round to round
            for spec, loads, rss in jobs[shift:] + jobs[:shift]:
                label = f"round {rnd}/{args.rounds} case {case} {spec.name}"
                try:
                    with Running(spec, pin.server, logdir) as server:
                        check_routes(server)
                        for path, conns in loads:
                            log(f"{label}: {path} c={conns}")
                            sample = measure(server, args, pin, case, path, conns, rnd)
                            if rss:
                                hwm = proc_status_kb(server.pid, "VmHWM")
                                sample.peak_rss_mb = round(hwm / 1024, 1) if hwm else None
                            samples.append(sample)
                except Exception as exc:
                    failures.append(f"{label}: {type(exc).__name__}: {exc}")
                    log(f"FAILED {failures[-1]}")
    return samples


def run_idle(
    args: argparse.Namespace, plan: Plan, pin: Pinning, logdir: Path, failures: list[str]
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for spec in plan.idle:
        label = f"case 5 {spec.name}"
        try:
            with Running(spec, pin.server, logdir) as server:
                idle_rss = proc_status_kb(server.pid, "VmRSS")
                ready = logdir / f"idle-ready-{server.port}"
                argv = [
                    *pin.load,
                    sys.executable,
                    str(HERE / "idle_conns.py"),
                    "--port",
                    str(server.port),
                    "--connections",
                    str(args.idle_connections),
                    "--hold",
                    str(args.idle_hold),
                    "--ready-file",
                    str(ready),
                    "--deadline",
                    str(args.idle_hold + 150),
                ]
                log(f"{label}: {args.idle_connections} connections held {args.idle_hold:g}s")
                client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                held_rss = None
                try:
                    began = time.monotonic()
                    while client.poll() is None and time.monotonic() - began < args.idle_hold + 180:
                        if held_rss is None and ready.exists():
                            time.sleep(min(1.0, args.idle_hold / 4))
                            held_rss = proc_status_kb(server.pid, "VmRSS")
                        time.sleep(0.1)
                    out, err = client.communicate(timeout=5)
                finally:
                    if client.poll() is None:
                        client.kill()
                        client.wait(5)
                report = next(
                    (
                        json.loads(line[len("IDLE_JSON ") :])
                        for line in out.splitlines()
                        if line.startswith("IDLE_JSON ")
                    ),
                    None,
                )
                if report is None or "error" in report:
                    raise RuntimeError(f"idle client: {report or err[-1000:]}")
                still = get(server.port, STATIC_PATH)[0]  # and the server still answers new clients
                hwm = proc_status_kb(server.pid, "VmHWM")
                results[spec.name] = {
                    **report,
                    "answers_new_clients": still in (200, 503),
                    "idle_rss_mb": round((idle_rss or 0) / 1024, 1),
                    "held_rss_mb": round((held_rss or 0) / 1024, 1),
                    "peak_rss_mb": round((hwm or 0) / 1024, 1),
                }
        except Exception as exc:
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
            log(f"FAILED {failures[-1]}")
    return results


def run_api(args: argparse.Namespace, failures: list[str]) -> dict[str, Any] | None:
    log(f"case 7: reset() x{args.api_repeats}, cold start x{args.api_starts}")
    argv = [
        sys.executable,
        str(HERE / "api_bench.py"),
        "--repeats",
        str(args.api_repeats),
        "--starts",
        str(args.api_starts),
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    except subprocess.TimeoutExpired:
        failures.append("case 7: api_bench.py timed out")
        return None
    for line in done.stdout.splitlines():
        if line.startswith("API_JSON "):
            result: dict[str, Any] = json.loads(line[len("API_JSON ") :])
            return result
    failures.append(f"case 7: api_bench.py exit {done.returncode}: {done.stderr[-1500:]}")
    return None


# --- the report ---------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Cell:
    """Medians over rounds of one (case, server, connections)."""

    rps: float
    lo: float
    hi: float
    p50: float
    p99: float
    max_ms: float
    cpu: float | None
    cpu_us: float | None  # server CPU time per request: robust to a server that is not saturated
    other: float | None  # other load on the server's core, %: how noisy the cell is
    rss: float | None
    rounds: int
    socket_errors: int
    non_2xx_share: float
    overflows: int


def cells(samples: list[Sample]) -> dict[tuple[str, str, int], Cell]:
    grouped: dict[tuple[str, str, int], list[Sample]] = collections.defaultdict(list)
    for s in samples:
        grouped[(s.case, s.server, s.conns)].append(s)
    out = {}
    for key, group in grouped.items():
        rps = [s.rps for s in group]
        cpus = [s.cpu_pct for s in group if s.cpu_pct is not None]
        rss = [s.peak_rss_mb for s in group if s.peak_rss_mb is not None]
        total = sum(s.requests for s in group)
        others = [s.other_load_pct for s in group if s.other_load_pct is not None]
        per_req = [s.cpu_pct / 100 * 1e6 / s.rps for s in group if s.cpu_pct is not None and s.rps > 0]
        out[key] = Cell(
            rps=median(rps),
            lo=min(rps),
            hi=max(rps),
            p50=median([s.p50_ms for s in group]),
            p99=median([s.p99_ms for s in group]),
            max_ms=median([s.max_ms for s in group]),
            cpu=median(cpus) if cpus else None,
            cpu_us=median(per_req) if per_req else None,
            other=median(others) if others else None,
            rss=median(rss) if rss else None,
            rounds=len(group),
            socket_errors=sum(s.socket_errors for s in group),
            non_2xx_share=sum(s.non_2xx for s in group) / total if total else 0.0,
            overflows=sum(s.listen_overflows for s in group),
        )
    return out


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:,.{digits}f}"


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def report(
    args: argparse.Namespace,
    plan: Plan,
    samples: list[Sample],
    idle: dict[str, dict[str, Any]],
    api: dict[str, Any] | None,
    meta: dict[str, str],
    failures: list[str],
) -> str:
    table = cells(samples)
    lines = [
        f"Run {meta['date']} on {meta['machine']}; {meta['pinning']}.",
        f"Command: `{meta['command']}`",
        f"{args.rounds} round(s) of {args.duration:g} s per measured run after a {args.warmup:g} s warm-up; "
        f"cells are medians over rounds; spread is the min-max of req/s. Other load is the time the "
        f"server's core ran anything but the server (other processes, hypervisor steal): "
        f"the higher, the noisier the cell. Load average at the start: {meta['loadavg']}.",
        "",
    ]
    header = [
        "| case | server | conns | req/s | spread | p50 ms | p99 ms | max ms | server CPU % | other load % "
        "| CPU µs/req | peak RSS MB | notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    if table or plan.skipped:
        lines += [*header]
    for (case, server, conns), c in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        notes = []
        if c.socket_errors:
            notes.append(f"{c.socket_errors} socket errors")
        if case == "4":
            notes.append(f"{100 * c.non_2xx_share:.1f}% non-2xx")
        if c.overflows:
            notes.append(f"{c.overflows} listen overflows")
        if c.rounds < args.rounds:
            notes.append(f"only {c.rounds} of {args.rounds} rounds")
        lines.append(
            f"| {case} | {server} | {conns} | {fmt(c.rps)} | {fmt(c.lo)}-{fmt(c.hi)} | {c.p50:.2f} | "
            f"{c.p99:.2f} | {c.max_ms:.1f} | {fmt(c.cpu)} | {fmt(c.other)} | {fmt(c.cpu_us, 1)} "
            f"| {fmt(c.rss, 1)} | {'; '.join(notes)} |"
        )
    for case, why in sorted(plan.skipped.items()):
        lines.append(f"| {case} | - | - | - | - | - | - | - | - | - | - | - | {why} |")

    lines += [*([""] if lines[-1] else []), "| # | target | measured | met |", "|---|---|---|---|"]

    def rps(case: str, server: str, conns: int) -> Cell | None:
        return table.get((case, server, conns))

    def at_least(case: str, what: str, num: Cell | None, den: Cell | None, target: float) -> None:
        """A row 'num's req/s >= target x den's', when both were measured."""
        if num and den:
            ratio = num.rps / den.rps
            lines.append(
                f"| {case} | {what} | {ratio:.3f}x ({fmt(num.rps)} / {fmt(den.rps)}) | "
                f"{verdict(ratio >= target)} |"
            )

    for conns in (1, 64):
        base, mock = rps("1", "aiohttp", conns), rps("1", "mockserver", conns)
        at_least("1", f"mockserver >= 0.6x bare aiohttp, c={conns}", mock, base, 0.6)
        at_least("1", f"mockserver --loop uvloop >= 0.6x aiohttp + uvloop, c={conns}",
                 rps("1", "mockserver-uvloop", conns), rps("1", "aiohttp-uvloop", conns), 0.6)
        for peer in ("wiremock-async-nojournal", "mountebank-keepalive"):
            other = rps("1", peer, conns)
            if other and mock:
                lines.append(
                    f"| 1 | (peer) {peer}, c={conns} | mockserver {mock.rps / other.rps:.2f}x of it "
                    f"({fmt(other.rps)} req/s) | - |"
                )
    for conns in (1, 64):
        at_least("2", f"1,000 rules >= 0.9x case 1, c={conns}", rps("2", "mockserver-1000-rules", conns),
                 rps("1", "mockserver", conns), 0.9)
    for conns in (1, 64):
        at_least("8", f"templated rule >= 0.5x bare aiohttp (same JSON), c={conns}",
                 rps("8", "mockserver-templated", conns), rps("8", "aiohttp", conns), 0.5)
    base, mock = rps("3", "aiohttp", 1000), rps("3", "mockserver", 1000)
    at_least("3", "100 ms delay, c=1000: >= 0.97x req/s", mock, base, 0.97)
    if base and mock:
        delta = mock.p99 - base.p99
        lines.append(
            f"| 3 | p99 within +10 ms of bare aiohttp | {delta:+.1f} ms ({mock.p99:.1f} vs "
            f"{base.p99:.1f}) | {verdict(delta <= 10)} |"
        )
        if base.rss and mock.rss:
            ratio = mock.rss / base.rss
            lines.append(
                f"| 6 | peak RSS (VmHWM) in case 3 <= 1.5x bare aiohttp | {ratio:.3f}x "
                f"({mock.rss:.1f} / {base.rss:.1f} MB) | {verdict(ratio <= 1.5)} |"
            )
    for conns in (1, 64):
        direct, proxied = rps("9", "aiohttp", conns), rps("9", "mockserver-proxy", conns)
        if direct and proxied:
            lines.append(
                f"| 9 | through the proxy vs direct, c={conns}: reported | {proxied.rps / direct.rps:.3f}x "
                f"req/s ({fmt(proxied.rps)} / {fmt(direct.rps)}); p50 {proxied.p50 - direct.p50:+.2f} ms, "
                f"p99 {proxied.p99 - direct.p99:+.2f} ms | - |"
            )
    for conns in (1, 64):
        bare_list, listed = rps("10", "aiohttp", conns), rps("10", "mockserver-resources", conns)
        if bare_list and listed:
            lines.append(
                f"| 10 | resource list, 25 of 1,000 items, c={conns}: reported | "
                f"{listed.rps / bare_list.rps:.3f}x req/s ({fmt(listed.rps)} / {fmt(bare_list.rps)}) | - |"
            )
    chaos = next((c for (case, _, _), c in table.items() if case == "4"), None)
    if chaos:
        lines.append(
            f"| 4 | chaos mix, c=64: reported | {fmt(chaos.rps)} req/s, p50 {chaos.p50:.1f} / p99 "
            f"{chaos.p99:.1f} ms, {100 * chaos.non_2xx_share:.1f}% non-2xx | - |"
        )
    elif "4" in plan.skipped:
        lines.append(f"| 4 | chaos mix, c=64: reported | {plan.skipped['4']} | - |")
    for name, r in idle.items():
        ok = r["served_after_hold"] == r["connections"] and r["answers_new_clients"]
        lines.append(
            f"| 5 | {name}: {r['connections']:,} idle keep-alive connections, {r['hold_s']:g} s | "
            f"{r['served_after_hold']:,}/{r['connections']:,} served again; RSS {r['idle_rss_mb']} MB "
            f"idle, {r['held_rss_mb']} MB held, peak {r['peak_rss_mb']} MB; opened in "
            f"{r['open_s']} s | {verdict(ok)} |"
        )
    if api:
        reset, start = api["reset"], api["start"]
        lines.append(
            f"| 7 | reset() with {reset['journal_entries']:,} journal entries, {reset['sessions']} "
            f"sessions < 1 ms | median {reset['median_ms']:.3f} ms (p90 {reset['p90_ms']:.3f}, "
            f"n={reset['n']}) | {verdict(reset['median_ms'] < 1)} |"
        )
        lines.append(
            f"| 7 | cold start until answered, then stop < 300 ms | median "
            f"{start['start']['median_ms']:.1f} ms + stop {start['stop']['median_ms']:.1f} ms "
            f"(first in process {start['first_start_ms']:.1f} ms, n={start['start']['n']}) | "
            f"{verdict(start['start_and_stop']['median_ms'] < 300)} |"
        )
    if failures:
        lines += ["", "Failures:", *[f"- {f}" for f in failures]]
    return "\n".join(lines)


def check_smoke(
    plan: Plan,
    samples: list[Sample],
    idle: dict[str, dict[str, Any]],
    api: dict[str, Any] | None,
    failures: list[str],
    want_api: bool,
) -> list[str]:
    """Every case ran and gave numbers (no timing is asserted)."""
    missing = list(failures)
    got = {(s.case, s.server, s.conns) for s in samples if s.requests > 0}
    for case, spec, loads, _ in plan.load:
        for _, conns in loads:
            if (case, spec.name, conns) not in got:
                missing.append(f"case {case} {spec.name} c={conns}: no requests measured")
    for spec in plan.idle:
        r = idle.get(spec.name)
        if not r or not r.get("served_after_hold"):
            missing.append(f"case 5 {spec.name}: no connection served after the hold")
        elif r["served_after_hold"] != r["connections"]:
            log(
                f"warning: case 5 {spec.name}: {r['served_after_hold']}/{r['connections']} "
                "served after the hold"
            )
    if want_api and api is None and not any(f.startswith("case 7") for f in missing):
        missing.append("case 7: no numbers")
    if any(rss for *_, rss in plan.load):
        rss = [s.peak_rss_mb for s in samples if s.case == "3" and s.peak_rss_mb]
        if not rss:
            missing.append("case 6: no peak RSS read in case 3")
    return missing


def smoke_tally(args: argparse.Namespace, plan: Plan, missing: list[str]) -> str:
    """One closing line, per case: passed (ran and gave numbers), failed, or skipped."""
    broken = {found.group(1) for m in missing if (found := re.search(r"case (\d)", m))}
    wanted = [c for c in args.cases if c in TARGETS]
    skipped = [c for c in wanted if c in plan.skipped]
    failed = [c for c in wanted if c in broken and c not in skipped]
    passed = len(wanted) - len(failed) - len(skipped)
    return f"smoke: {passed} passed, {len(failed)} failed" + (f", {len(skipped)} skipped" if skipped else "")


def update_doc(text: str) -> None:
    doc = DOC.read_text()
    if DOC_BEGIN not in doc or DOC_END not in doc:
        raise SystemExit(f"bench: {DOC} has no {DOC_BEGIN} ... {DOC_END} section")
    head, _, rest = doc.partition(DOC_BEGIN)
    _, _, tail = rest.partition(DOC_END)
    DOC.write_text(f"{head}{DOC_BEGIN}\n{text}\n{DOC_END}{tail}")
    log(f"updated {DOC.relative_to(ROOT)}")


# --- profiling ----------------------------------------------------------------------------------


def profile(args: argparse.Namespace, pin: Pinning, logdir: Path) -> int:
    """py-spy (attached after start-up) on each server under case 1's c=64 load: the top frames,
    as a share of samples and as CPU microseconds per request."""
    spy = ensure_py_spy()
    specs = [
        bare_spec(),
        mock_spec("mockserver", STATIC_SCENARIO),
        mock_spec("mockserver-1000-rules", thousand_rules(logdir)),
    ]
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    for spec in specs:
        with Running(spec, pin.server, logdir) as server:
            check_routes(server)
            wrk(args, pin.load, server.port, STATIC_PATH, 64, args.warmup or 2)
            raw = RESULTS / f"profile-{spec.name}-{stamp}.txt"
            spy_proc = subprocess.Popen(
                [
                    spy,
                    "record",
                    "-p",
                    str(server.pid),
                    "-d",
                    str(round(args.duration) + 1),
                    "-r",
                    str(args.profile_rate),
                    "-f",
                    "raw",
                    "-o",
                    str(raw),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                time.sleep(1.0)
                cpu0 = proc_cpu_seconds(server.pid)
                result = wrk(args, pin.load, server.port, STATIC_PATH, 64, args.duration)
                cpu1 = proc_cpu_seconds(server.pid)
                _, err = spy_proc.communicate(timeout=args.duration + 60)
            finally:
                if spy_proc.poll() is None:
                    spy_proc.kill()
                    spy_proc.wait(5)
            if not raw.exists():
                log(f"py-spy wrote nothing: {err[-1500:]}")
                return 1
            per_request_us = (cpu1 - cpu0) / result["requests"] * 1e6 if cpu0 is not None and cpu1 else 0.0
            rate = result["requests"] / (result["duration_us"] / 1e6)
            print(
                f"\n## {spec.name}: {rate:,.0f} req/s under py-spy, {per_request_us:.1f} CPU us/request "
                f"(stacks: {raw.relative_to(ROOT)})\n"
            )
            print(
                breakdown(raw, per_request_us),
                "",
                top_frames(raw, per_request_us, args.profile_top),
                sep="\n",
            )
    return 0


# (label, frame names any of which puts a sample there); the first label that matches wins
BREAKDOWN = [
    (
        "write the answer (aiohttp: prepare + write_eof; mockserver: encode + Sent.send), the socket send",
        (
            "StreamResponse.prepare",
            "StreamResponse.write_eof",
            "Response.write_eof",
            "Sent.send",
            "encode (mockserver/wire/http1.py",
        ),
    ),
    ("build the response object (aiohttp Response, mockserver Sent)", ("Response.__init__", "Sent.__init__")),
    ("mockserver: Engine.resolve (index, matchers, counters, chaos)", ("Engine.resolve",)),
    ("mockserver: journal (_entry, Journal.next_seq/record)", ("MockServer._entry", "Journal.")),
    ("mockserver: exchange hooks (_after: metrics)", ("MockServer._after",)),
    (
        "mockserver: request snapshot (read, RequestSnapshot, remote, ids)",
        (
            "BaseRequest.read",
            "RequestSnapshot.",
            "BaseRequest.remote",
            "_next_request_id",
            "BaseRequest.version",
            "BaseRequest.query",
            "BaseRequest.raw_path",
        ),
    ),
    ("mockserver: rest of _handle/_exchange/_answer", ("MockServer._handle",)),
    ("bare handler (bare_aiohttp.py)", ("clusters (",)),
    ("aiohttp routing (UrlDispatcher.resolve)", ("UrlDispatcher.resolve",)),
    ("aiohttp + asyncio: parse, protocol, tasks, event loop", ("",)),
]


def breakdown(raw: Path, per_request_us: float) -> str:
    """Samples of the serving loop by what they were doing, as shares and µs per request."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "_run_once" not in stack:
            continue
        total += int(count)
        label = next(label for label, names in BREAKDOWN if any(name in stack for name in names))
        counts[label] += int(count)
    out = ["| where | share % | CPU µs/req |", "|---|---:|---:|"]
    for label, _ in BREAKDOWN:
        if counts[label]:
            out.append(
                f"| {label} | {100 * counts[label] / total:.1f} | "
                f"{per_request_us * counts[label] / total:.2f} |"
            )
    return "\n".join(out)


def top_frames(raw: Path, per_request_us: float, top: int) -> str:
    """Inclusive and self shares of each function in py-spy's collapsed stacks (serving only)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "_run_once" not in stack:  # only the event loop's work, not start-up or shutdown
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f).replace(str(ROOT) + "/", "") for f in stack.split(";")]
        frames = [re.sub(r"\(.*/site-packages/", "(", f) for f in frames]
        frames = [re.sub(r"\(.*/lib/python3\.\d+/", "(", f) for f in frames]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    out = [
        "| function | inclusive % | inclusive us/req | self % | self us/req |",
        "|---|---:|---:|---:|---:|",
    ]
    for frame, n in inclusive.most_common(top):
        out.append(
            f"| `{frame}` | {100 * n / total:.1f} | {per_request_us * n / total:.2f} | "
            f"{100 * own[frame] / total:.1f} | {per_request_us * own[frame] / total:.2f} |"
        )
    out += ["", "Top self time:", "", "| function | self % | self us/req |", "|---|---:|---:|"]
    for frame, n in own.most_common(top):
        out.append(f"| `{frame}` | {100 * n / total:.1f} | {per_request_us * n / total:.2f} |")
    return "\n".join(out)


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI: 1 round, short runs, 500 idle connections for 2 s; exit 0 if every case gave numbers",
    )
    parser.add_argument("--rounds", type=int, help="rounds per case (default 3; smoke 1)")
    parser.add_argument("--duration", type=float, help="seconds per measured wrk run (default 10; smoke 2)")
    parser.add_argument("--warmup", type=float, help="seconds of discarded wrk warm-up (default 5; smoke 1)")
    parser.add_argument("--cases", default="1,2,3,4,5,6,7,8,9,10", help="comma-separated case numbers")
    parser.add_argument("--uvloop", action="store_true", help="also a bare aiohttp + uvloop baseline")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also WireMock and mountebank, npm-installed into --peers-dir at run time",
    )
    parser.add_argument("--peers-dir", default=str(Path(tempfile.gettempdir()) / "mockserver-bench-peers"))
    parser.add_argument("--chaos-file", default=str(CHAOS_SCENARIO))
    parser.add_argument("--idle-connections", type=int, help="case 5 (default 10000; smoke 500)")
    parser.add_argument("--idle-hold", type=float, help="case 5 seconds (default 30; smoke 2)")
    parser.add_argument("--api-repeats", type=int, help="case 7 timed resets (default 300; smoke 30)")
    parser.add_argument("--api-starts", type=int, help="case 7 timed cold starts (default 30; smoke 3)")
    parser.add_argument("--wrk-timeout", type=int, default=10, help="wrk --timeout, seconds")
    parser.add_argument(
        "--update-doc", action="store_true", help=f"write the table into {DOC.relative_to(ROOT)}"
    )
    parser.add_argument("--profile", action="store_true", help="profile case 1 (c=64) with py-spy instead")
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--profile-top", type=int, default=25)
    args = parser.parse_args(argv)
    smoke = args.smoke
    defaults = {
        "rounds": (3, 1),
        "duration": (10.0, 2.0),
        "warmup": (5.0, 1.0),
        "idle_connections": (10_000, 500),
        "idle_hold": (30.0, 2.0),
        "api_repeats": (300, 30),
        "api_starts": (30, 3),
    }
    for name, (full, short) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, short if smoke else full)
    args.pause = 0.2 if smoke else 1.0
    args.settle_limit = 10.0 if smoke else 60.0
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    return args


def reexec_in_venv() -> None:
    """Run under the project's .venv when started by a python that cannot import mockserver."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    probe = subprocess.run(
        [sys.executable, "-c", "import mockserver, aiohttp"], capture_output=True, check=False
    )
    if probe.returncode != 0 and venv_python.exists() and Path(sys.prefix) != ROOT / ".venv":
        log(f"mockserver is not importable here: re-running under {venv_python.relative_to(ROOT)}")
        os.execv(venv_python, [str(venv_python), __file__, *sys.argv[1:]])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reexec_in_venv()
    # a stop (SIGTERM, Ctrl-C) unwinds through the finally blocks that stop the servers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.wrk = ensure_wrk()
    limit = raise_nofile(max(args.idle_connections, 1000) * 2 + 1000)
    if limit < args.idle_connections + 500:
        log(f"warning: open files limited to {limit}; case 5 may fail")
    pin = Pinning.detect()
    if pin.load_cpu is not None:  # the harness itself stays off the server's core
        os.sched_setaffinity(0, {pin.load_cpu})
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mockserver-bench-") as tmp:
        work = Path(tmp)
        if args.profile:
            return profile(args, pin, work)
        plan = make_plan(args, work)
        loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        failures: list[str] = []
        began = time.monotonic()
        samples = run_rounds(args, plan, pin, work, failures)
        idle = run_idle(args, plan, pin, work, failures)
        api = run_api(args, failures) if "7" in args.cases else None
        elapsed = time.monotonic() - began
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"wrk {wrk_version(args.wrk)}",
        "pinning": pin.note,
        "loadavg": loadavg,
        "command": " ".join(["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    text = report(args, plan, samples, idle, api, meta, failures) + f"\n\nTook {elapsed / 60:.1f} min."
    print(text)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"run-{stamp}.md").write_text(text + "\n")
    (RESULTS / f"run-{stamp}.json").write_text(
        json.dumps(
            {
                "meta": meta,
                "samples": [s.__dict__ for s in samples],
                "idle": idle,
                "api": api,
                "skipped": plan.skipped,
                "failures": failures,
            },
            indent=1,
        )
    )
    if args.update_doc:
        update_doc(text)
    if args.smoke:
        missing = check_smoke(plan, samples, idle, api, failures, "7" in args.cases)
        for problem in missing:
            log(f"smoke: {problem}")
        print(smoke_tally(args, plan, missing))  # the closing line CI reads: cases, not timings
        return 1 if missing else 0
    return 1 if failures else 0


def wrk_version(exe: str) -> str:
    done = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False, timeout=10)
    found = re.search(r"wrk (\S+)", done.stdout + done.stderr)
    return found.group(1) if found else "?"


if __name__ == "__main__":
    sys.exit(main())
