"""CPU per request of a server's whole HTTP stack, without sockets: steadier than wrk for A/B work.

Fake transports feed a request to the server's protocol each time it writes an answer, one
request in flight per fake connection (as wrk does), for a fixed time; the figure is the
process's CPU time over the answers. The parser, aiohttp's request handling, the event loop
and mockserver's own work are all measured; the kernel's socket work is not, so the figures
are lower than wrk's and the ratio to bare aiohttp is harsher. Use it to compare two versions
of the code in a few seconds each (docs/performance.md, "Finding the time"):

    taskset -c 0 .venv/bin/python bench/inprocess.py mockserver /slow 1000 5
    taskset -c 0 .venv/bin/python bench/inprocess.py aiohttp /slow 1000 5
    .venv/bin/py-spy record -f raw -o out.txt -- .venv/bin/python bench/inprocess.py mockserver /slow 1000 8

mockserver serves bench/scenarios/static.yaml with the collector set as ``mockserver serve``
sets it; bare aiohttp is bench/servers/bare_aiohttp.py's routes with Python's defaults, as in
bench/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

HERE = Path(__file__).resolve().parent
REQUEST = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"


class FakeTransport(asyncio.Transport):
    """A connection whose peer sends the next request as soon as an answer is written."""

    def __init__(self, loop: asyncio.AbstractEventLoop, factory: Callable[[], Any], request: bytes,
                 answers: list[int]) -> None:
        super().__init__()
        self._loop, self._request, self._answers = loop, request, answers
        self._closing = False
        self._protocol = factory()
        self._protocol.connection_made(self)
        loop.call_soon(self._protocol.data_received, request)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._answers[0] += 1
        if self._answers[1] == 0:  # still running: the client sends its next request
            self._loop.call_soon(self._protocol.data_received, self._request)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def abort(self) -> None:
        self._closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True


async def _bare() -> Callable[[], Any]:
    spec = importlib.util.spec_from_file_location("bare_aiohttp", HERE / "servers" / "bare_aiohttp.py")
    assert spec is not None
    assert spec.loader is not None
    bare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bare)
    app = web.Application()
    app.router.add_get("/v1.0/proj/clusters", bare.clusters)
    app.router.add_get("/slow", bare.slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    server = runner.server
    assert server is not None
    return server


async def _mockserver() -> Callable[[], Any]:
    from mockserver import MockServer

    server = MockServer(str(HERE / "scenarios" / "static.yaml"), port=0)
    await server.start()
    gc.collect()  # the collector as `mockserver serve` sets it (cli.py)
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    runner = server._runner  # the aiohttp protocol factory behind the listener (a benchmark's peek)
    assert runner is not None
    assert runner.server is not None
    return runner.server


async def measure(kind: str, path: str, connections: int, seconds: float) -> tuple[float, float]:
    """(answers per second, CPU microseconds per answer) over *seconds*, after a second of warm-up."""
    factory = await (_bare() if kind == "aiohttp" else _mockserver())
    loop = asyncio.get_running_loop()
    answers = [0, 0]
    request = REQUEST % path.encode()
    transports = [FakeTransport(loop, factory, request, answers) for _ in range(connections)]
    await asyncio.sleep(1.0)
    first, cpu, wall = answers[0], time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    count, cpu, wall = answers[0] - first, time.process_time() - cpu, time.perf_counter() - wall
    answers[1] = 1  # stop feeding; let what is in flight finish
    await asyncio.sleep(0.3)
    del transports
    return count / wall, cpu * 1e6 / max(count, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", choices=["mockserver", "aiohttp"])
    parser.add_argument("path", help="/v1.0/proj/clusters (case 1) or /slow (case 3)")
    parser.add_argument("connections", type=int)
    parser.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    rate, cost = asyncio.run(measure(args.server, args.path, args.connections, args.seconds))
    print(f"{args.server} {args.path} c={args.connections}: {rate:,.0f} answers/s, {cost:.1f} µs CPU each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
