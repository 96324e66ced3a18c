"""Captured values built from a real server's answers (aiohttp's own compression, not ours):
recorded with urllib3 as received on the wire, then replayed from the written scenario."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3
from aiohttp import web

from mockserver import MockServer
from mockserver.record.build import Recorder, RecordOptions
from mockserver.record.capture import Captured

SECRET = "upstream-api-key-0c9f7e"


async def _items(request: web.Request) -> web.StreamResponse:
    # the upstream echoes the key it got, as many services do
    response = web.json_response({"items": [1, 2, 3], "key": request.headers.get("X-Api-Key", "")},
                                 headers={"X-Request-Id": str(time.monotonic_ns())})
    response.enable_compression(web.ContentCoding.gzip)
    return response


async def _teapot(request: web.Request) -> web.StreamResponse:
    return web.Response(status=418, reason="Short And Stout", text="no coffee")


@pytest.fixture
def upstream() -> Iterator[str]:
    """A real aiohttp server on 127.0.0.1 in its own thread and loop."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/v1/{project}/items", _items)
    app.router.add_get("/teapot", _teapot)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.run_until_complete(runner.cleanup())
    loop.close()


def capture(pool: urllib3.PoolManager, base: str, path: str, headers: dict[str, str]) -> Captured:
    started, t0 = time.time(), time.monotonic()
    r = pool.request("GET", base + path, headers=headers, preload_content=False, decode_content=False)
    body = r.read(decode_content=False)
    return Captured("GET", path.partition("?")[0], (), tuple(headers.items()), b"", r.status, r.reason or "",
                    tuple(r.headers.items()), body, time.monotonic() - t0, started, None, base)


def test_real_gzip_answers_are_recorded_decoded_redacted_and_replayed(upstream: str, tmp_path: Path) -> None:
    pool = urllib3.PoolManager()
    project = "0123456789abcdef0123456789abcdef"
    headers = {"X-Api-Key": SECRET, "Accept-Encoding": "gzip"}
    first = capture(pool, upstream, f"/v1/{project}/items", headers)
    assert dict(first.response_headers)["Content-Encoding"] == "gzip"  # really compressed on the wire
    recorder = Recorder(RecordOptions(name="real", keep_latency=False))
    recorder.add(first)
    recorder.add(capture(pool, upstream, "/teapot", headers))
    recorder.write(tmp_path / "real.yaml")
    text = (tmp_path / "real.yaml").read_text()
    assert SECRET not in text and "path: /v1/{project_id}/items" in text
    with MockServer([tmp_path / "real.yaml"]) as server, requests.Session() as s:
        r = s.get(server.url_for(f"/v1/{project}/items"), headers={"X-Api-Key": "another"})
        assert (r.status_code, r.json()) == (200, {"items": [1, 2, 3], "key": "<redacted:x-api-key:1>"})
        r = s.get(server.url_for("/teapot"))
        assert (r.status_code, r.reason, r.text) == (418, "Short And Stout", "no coffee")
