"""Case 5: hold many idle keep-alive connections, then check that every one is still served.

Opens N connections (at most --burst connecting at once, so the server's listen backlog does
not overflow), sends one request on each and reads the answer, holds them all idle for --hold
seconds, then sends a second request on each and counts the answers. Prints one line
``IDLE_JSON {...}`` for bench/run.py. Everything is bounded by --deadline seconds in total.

    python bench/idle_conns.py --port 8080 --connections 10000 --hold 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time

PATH = "/v1.0/proj/clusters"


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one keep-alive request and read the whole answer; the status code."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def main(args: argparse.Namespace) -> dict[str, object]:
    request = f"GET {PATH} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n\r\n".encode()
    gate = asyncio.Semaphore(args.burst)
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    failures: dict[str, int] = {}

    def fail(what: str, exc: BaseException) -> None:
        key = f"{what}: {type(exc).__name__}"
        failures[key] = failures.get(key, 0) + 1

    async def open_one() -> None:
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port), args.op_timeout
                )
            except (OSError, TimeoutError) as exc:
                fail("connect", exc)
                return
            try:
                await asyncio.wait_for(exchange(reader, writer, request), args.op_timeout)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                fail("first request", exc)
                writer.close()
                return
            conns.append((reader, writer))

    async def second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            await asyncio.wait_for(exchange(reader, writer, request), args.op_timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            fail("second request", exc)
            return False
        return True

    started = time.monotonic()
    await asyncio.gather(*(open_one() for _ in range(args.connections)))
    opened_s = time.monotonic() - started
    if args.ready_file:  # tells bench/run.py when to sample the server's RSS
        with open(args.ready_file, "w") as fh:
            fh.write(str(len(conns)))
    await asyncio.sleep(args.hold)
    started = time.monotonic()
    results = await asyncio.gather(*(second(r, w) for r, w in conns))
    second_s = time.monotonic() - started
    for _, writer in conns:
        writer.close()
    return {
        "connections": args.connections,
        "opened": len(conns),
        "served_after_hold": sum(results),
        "hold_s": args.hold,
        "open_s": round(opened_s, 2),
        "second_round_s": round(second_s, 2),
        "failures": failures,
    }


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=100, help="connections being opened at once")
    parser.add_argument("--op-timeout", type=float, default=20.0)
    parser.add_argument("--deadline", type=float, default=180.0)
    parser.add_argument("--ready-file", default="")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    try:
        report = asyncio.run(asyncio.wait_for(main(args), args.deadline))
    except TimeoutError:
        print(f"IDLE_JSON {json.dumps({'error': f'deadline of {args.deadline}s passed'})}")
        return 1
    print(f"IDLE_JSON {json.dumps(report)}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(cli())
