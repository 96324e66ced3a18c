"""Case 7: what the pytest fixtures will pay per test, measured on MockServer's own methods.

- ``reset()`` on a threaded server that serves a few scenarios, with 1,000 journal entries and
  counters and states in several sessions. timeit, one reset per repeat; the setup of each repeat
  refills the journal and the sessions (not timed). Median of many.
- cold start: ``MockServer(scenario).start_in_thread()`` until a first request is answered, then
  ``stop_thread()``. The first start of the process (lazy imports, first event loop) is reported
  apart from the median of the later ones.

Prints one line ``API_JSON {...}`` for bench/run.py.

    python bench/api_bench.py --repeats 300 --starts 30
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
import timeit
from pathlib import Path
from typing import Any

from mockserver import MockServer

HERE = Path(__file__).resolve().parent
STATIC = HERE / "scenarios" / "static.yaml"
FLAKY: dict[str, Any] = {
    "name": "flaky",
    "rules": [
        {
            "name": "flaky",
            "match": {"method": "POST", "path": "/orders"},
            "respond": [{"status": 503, "headers": {"Retry-After": "1"}, "repeat": 3}, {"status": 201}],
        },
        {
            "name": "pay",
            "match": {"method": "POST", "path": "/pay"},
            "state": "invoice",
            "sets_state": "paid",
            "respond": {"status": 202},
        },
        {
            "name": "invoice",
            "match": {"path": "/invoice"},
            "state": "invoice",
            "requires_state": "paid",
            "respond": {"json": {"state": "paid"}},
        },
    ],
}
CLUSTERS: dict[str, Any] = {
    "name": "clusters",
    "rules": [
        {
            "match": {"method": "GET", "path": "/v1.0/{project_id}/clusters/{id}"},
            "respond": {"json": {"id": "{{ path.id }}", "status": "200"}},
        },
        {
            "match": {"method": "DELETE", "path": "/v1.0/{project_id}/clusters/{id}"},
            "respond": {"status": 204},
        },
    ],
}
SESSIONS = [f"s{i}" for i in range(5)]


def traffic(port: int, count: int) -> None:
    """*count* requests over one keep-alive connection, spread over routes and sessions."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    routes = [
        ("GET", "/v1.0/proj/clusters"),
        ("POST", "/orders"),
        ("POST", "/pay"),
        ("GET", "/invoice"),
        ("GET", "/v1.0/p/clusters/7"),
        ("GET", "/nowhere"),
    ]
    try:
        for i in range(count):
            method, path = routes[i % len(routes)]
            conn.request(method, path, headers={"X-Mock-Session": SESSIONS[i % len(SESSIONS)]})
            conn.getresponse().read()
    finally:
        conn.close()


def answered(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/v1.0/proj/clusters")
        conn.getresponse().read()
    finally:
        conn.close()


def ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1e3, 4),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1] * 1e3, 4)
        if len(ordered) > 1
        else round(ordered[0] * 1e3, 4),
        "min_ms": round(ordered[0] * 1e3, 4),
        "max_ms": round(ordered[-1] * 1e3, 4),
        "n": len(ordered),
    }


def bench_reset(repeats: int) -> dict[str, Any]:
    with MockServer([STATIC, FLAKY, CLUSTERS], journal_size=10_000) as server:
        traffic(server.port, 1000)
        entries = server.journal.entries()
        assert len(entries) == 1000, len(entries)
        sessions = len(server.store.sessions())

        def refill() -> None:
            server.reset()
            traffic(server.port, 20)  # counters and states again, in every session
            for entry in entries[20:]:  # and the journal back to 1,000 entries
                server.journal.record(entry)

        times = timeit.repeat(server.reset, setup=refill, number=1, repeat=repeats)
        # one more, checked: the reset really forgot everything
        refill()
        before = len(server.journal)
        server.reset()
        assert len(server.journal) == 0, "reset left journal entries"
        assert server.store.sessions() == [], "reset left sessions"
    return {"journal_entries": before, "sessions": sessions, **ms(times)}


def bench_start(starts: int) -> dict[str, Any]:
    def once() -> tuple[float, float]:
        t0 = time.perf_counter()
        server = MockServer(STATIC)
        server.start_in_thread()
        try:
            answered(server.port)
            t1 = time.perf_counter()
        finally:
            server.stop_thread()
        return t1 - t0, time.perf_counter() - t1

    first_start, first_stop = once()
    runs = [once() for _ in range(starts)]
    return {
        "first_start_ms": round(first_start * 1e3, 2),
        "first_stop_ms": round(first_stop * 1e3, 2),
        "start": ms([r[0] for r in runs]),
        "stop": ms([r[1] for r in runs]),
        "start_and_stop": ms([r[0] + r[1] for r in runs]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300, help="timed resets")
    parser.add_argument("--starts", type=int, default=30, help="timed cold starts (after a first one)")
    args = parser.parse_args()
    # the cold start first: the first start of the process is the coldest there is
    start = bench_start(args.starts)
    reset = bench_reset(args.repeats)
    print(f"API_JSON {json.dumps({'reset': reset, 'start': start})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
