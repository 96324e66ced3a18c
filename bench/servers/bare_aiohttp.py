"""The ceiling: bare aiohttp with the benchmark's two routes and no scenario engine."""

import argparse
import asyncio
import importlib
import itertools
import json
import secrets
from pathlib import Path

from aiohttp import web

BODY = b'{"error_code":"CSS.0001","error_msg":"Service unavailable"}'
ids = itertools.count(1)
PREFIX = secrets.token_hex(4)  # request ids as long as mockserver's


async def clusters(request: web.Request) -> web.Response:
    return web.Response(
        status=503,
        body=BODY,
        content_type="application/json",
        headers={"Retry-After": "1", "X-Request-Id": f"{PREFIX}{next(ids):012x}"},
    )


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(0.1)
    return web.Response(
        body=b'{"ok":true}',
        content_type="application/json",
        headers={"X-Request-Id": f"{PREFIX}{next(ids):012x}"},
    )


async def cluster(request: web.Request) -> web.Response:
    """Case 8's route: the JSON that bench/scenarios/templated.yaml's template builds."""
    query = request.query
    limit, offset = int(query.get("limit", 10)), int(query.get("offset", 0))
    return web.json_response(
        {"id": request.match_info["id"], "limit": limit,
         "next": f"/v1.0/proj/clusters?offset={offset + limit}",
         "agent": request.headers.get("User-Agent", "none")},
        headers={"X-Request-Id": f"{PREFIX}{next(ids):012x}"},
    )


ITEMS = json.loads((Path(__file__).parent.parent / "scenarios" / "items.json").read_text())


async def items(request: web.Request) -> web.Response:
    """Case 10's route: a page of the 1,000 items bench/scenarios/resources.yaml lists."""
    query = request.query
    limit, offset = int(query.get("limit", 10)), int(query.get("offset", 0))
    return web.json_response(
        {"total": len(ITEMS), "items": ITEMS[offset:offset + limit]},
        headers={"X-Request-Id": f"{PREFIX}{next(ids):012x}"},
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--uvloop", action="store_true")
    # mockserver's default listen queue, so both servers meet case 3's 1,000 simultaneous connects
    # the same way: aiohttp's own 128 drops most of their SYNs, and wrk, timing a request from its
    # first write, never shows the dropped clients' 1-3 s stalls (docs/performance.md, "Case 3's p99")
    parser.add_argument("--backlog", type=int, default=2048)
    args = parser.parse_args()
    if args.uvloop:
        importlib.import_module("uvloop").install()  # installed by bench/run.py --uvloop
    app = web.Application()
    app.add_routes([web.get("/v1.0/proj/clusters", clusters), web.get("/slow", slow),
                    web.get("/v1.0/proj/clusters/{id}", cluster), web.get("/v1.0/proj/items", items)])
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None,
                backlog=args.backlog)
