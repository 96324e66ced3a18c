"""``/__mock/ui``: the dashboard page, its assets, a state snapshot and the push channel.

These are control routes (admin.py's table lists them), so they are never journaled and the
control API's token guards them; the page's address also takes the token as ``?token=T``, and
the page passes it on to everything it loads. The push channel is server-sent events: a journal
listener exists only while a page is connected, so with no page open serving costs nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from . import STATIC, render_page

if TYPE_CHECKING:
    from ..app.server import MockServer
    from ..journal import Entry

__all__ = ["ASSETS", "Dashboard", "entry_dicts", "snapshot"]

# name -> content type; nothing else under static/ is served
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "uPlot.LICENSE": "text/plain; charset=utf-8",
}
#: entries sent when a page connects (the page keeps at most 5,000; the journal holds 10,000)
WINDOW = 2_000
#: entries a stream compares with what it sent, to send again those the journal replaced
TRACKED = 500
#: a comment this often keeps the stream open through proxies
HEARTBEAT = 15.0
#: how often a quiet stream looks whether its page went away or the journal was cleared
CHECK = 1.0
#: at most this many entries a batch: under a load test a page shows the newest, and says how
#: many it skipped, rather than slow the server down serialising them all (docs/performance.md)
MAX_BATCH = 200
#: pushes are batched this long: a client in a tight loop gets 10 updates a second, not thousands
BATCH = 0.1
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

Handler = Callable[[web.BaseRequest, dict[str, str]], Any]


def _dumps(value: Any) -> str:
    from ..control.api import _dumps as finite_dumps  # JSON has no Infinity: an unbounded delay is null

    return finite_dumps(value)


def entry_dicts(entries: list[Entry]) -> list[dict[str, Any]]:
    """Entries as GET /__mock/journal gives them."""
    return [e.as_dict() for e in entries]


def snapshot(server: MockServer) -> dict[str, Any]:
    """What the side panels show: scenarios, runtime faults, per-session state, the clock."""
    scenarios = []
    for scenario in server.scenarios:
        timeline = scenario.chaos.timeline
        scenarios.append({
            "name": scenario.name, "source": scenario.source, "description": scenario.description,
            "rules": [{"id": r.id, "source": r.source} for r in scenario.rules],
            "phases": [{"start": p.start, "end": p.end, "label": p.label(),
                        "retry_after": p.retry_after} for p in timeline.phases] if timeline else [],
        })
    store = server.store
    sessions = {}
    with store.lock:
        for key in list(store._sessions):
            found = store._sessions[key]
            sessions[key] = {"hits": dict(found.hits), "states": dict(found.states),
                             "buckets": {k: round(v[0], 3) for k, v in found.buckets.items()},
                             "in_flight": dict(found.inflight)}
    return {"scenarios": scenarios, "faults": server.list_faults(), "sessions": sessions,
            "seed": server.seed, "clock": server.clock.now(), "wall": time.time(),
            "journal": {"size": len(server.journal), "max": server.journal.maxlen},
            "time_scale": server.time_scale}


class Dashboard:
    """The handlers of /__mock/ui/..., bound to one server."""

    def __init__(self, server: MockServer, prefix: str) -> None:
        self.server = server
        self.prefix = prefix
        self.clients = 0  # pages connected to the push channel now
        self._streams: set[asyncio.Event] = set()  # their wake-up events (close() sets them all)
        self._closing = False

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("GET", "/ui", self.page), ("GET", "/ui/events", self.events),
                ("GET", "/ui/state", self.state), ("GET", "/ui/{asset}", self.asset)]

    async def page(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        token = self.server.admin_token
        suffix = html.escape(f"?token={quote(token, safe='')}" if token else "")
        base = html.escape(self.prefix)
        head = "\n".join(f'<link rel="stylesheet" href="{base}/ui/{name}{suffix}">'
                         for name in ("uPlot.min.css", "dashboard.css"))
        scripts = "\n".join(f'<script src="{base}/ui/{name}{suffix}"></script>'
                            for name in ("uPlot.iife.min.js", "dashboard.js"))
        config = {"mode": "live", "base": self.prefix, "token": token or ""}
        text = render_page(title="mockserver dashboard", head=head, scripts=scripts, config=config)
        return web.Response(text=text, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store", "Content-Security-Policy": CSP,
                                     "Referrer-Policy": "no-referrer"})

    async def asset(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        from ..control.api import ApiError

        name = params["asset"]
        if name not in ASSETS:
            raise ApiError("not_found", f"no dashboard asset {self.prefix}/ui/{name}; "
                                        f"assets: {', '.join(sorted(ASSETS))}")
        return web.Response(body=(STATIC / name).read_bytes(), headers={
            "Content-Type": ASSETS[name], "Cache-Control": "no-store"})

    async def state(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        return web.json_response(snapshot(self.server), dumps=_dumps)

    async def events(self, request: web.BaseRequest, params: dict[str, str]) -> web.StreamResponse:
        """Server-sent events: the last WINDOW entries, then each new batch; ``reset`` on a clear."""
        from ..control.api import ApiError

        if "text/event-stream" not in request.headers.get("Accept", ""):
            raise ApiError("bad_request", f"{self.prefix}/ui/events is an event stream; "
                                          "send Accept: text/event-stream (EventSource does)")
        journal = self.server.journal
        changed = asyncio.Event()
        loop = asyncio.get_running_loop()

        def wake() -> None:  # called by the journal, on our loop (the server's) or another thread
            if changed.is_set():
                return
            try:
                running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                changed.set()
            else:
                loop.call_soon_threadsafe(changed.set)

        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        await response.prepare(request)
        unsubscribe = journal._subscribe(wake)
        self.clients += 1
        self._streams.add(changed)
        try:
            await self._stream(request, response, changed)
        except ConnectionResetError:  # the page went away
            pass
        finally:
            unsubscribe()
            self.clients -= 1
            self._streams.discard(changed)
        return response

    async def _stream(self, request: web.BaseRequest, response: web.StreamResponse,
                      changed: asyncio.Event) -> None:
        journal = self.server.journal
        clears = journal.clears
        entries = journal.entries()[-WINDOW:]
        await self._send(response, entries, reset=True)
        # what the page holds: the newest number sent, and the entries sent while still pending,
        # whose finished versions (new objects, same number) are sent again as they come
        sent = _Sent(entries)
        quiet = 0.0
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), CHECK)
            transport = request.transport
            if self._closing or transport is None or transport.is_closing():
                return  # the page went away (aiohttp does not cancel handlers), or the server stops
            if not changed.is_set():
                quiet += CHECK
                if quiet >= HEARTBEAT:
                    await response.write(b": ping\n\n")
                    quiet = 0.0
                continue
            quiet = 0.0
            await asyncio.sleep(BATCH)
            changed.clear()
            entries = journal.entries()
            if journal.clears != clears:  # cleared: the page starts over from what is there now
                clears = journal.clears
                entries = entries[-WINDOW:]
                await self._send(response, entries, reset=True)
                sent = _Sent(entries)
                continue
            fresh = sent.news(entries)
            if fresh:
                skipped = max(0, len(fresh) - MAX_BATCH)
                await self._send(response, fresh[skipped:], reset=False, skipped=skipped)

    def close(self) -> None:
        """End every stream now, so that stopping the server does not wait for open pages."""
        self._closing = True
        for changed in self._streams:
            changed.set()

    async def _send(self, response: web.StreamResponse, entries: list[Entry], *, reset: bool,
                    skipped: int = 0) -> None:
        data = _dumps({"reset": reset, "entries": entry_dicts(entries), "size": len(self.server.journal),
                       "skipped": skipped})
        await response.write(b"event: entries\ndata: " + data.encode() + b"\n\n")


class _Sent:
    """What one page was sent: the newest number, and the last TRACKED entries as sent. An entry
    the journal replaced since (a pending exchange that finished, a client that left, a fault's
    write plan noted) is a new object under the same number: it is sent again, and the page puts
    it in the old one's place."""

    def __init__(self, entries: list[Entry]) -> None:
        self.last = 0
        self.held: OrderedDict[int, Entry] = OrderedDict()
        self._note(entries[-TRACKED:])

    def _note(self, entries: list[Entry]) -> None:
        held = self.held
        for entry in entries:
            self.last = max(self.last, entry.seq)
            held[entry.seq] = entry  # a number already held keeps its place: the oldest stays first
        while len(held) > TRACKED:
            held.popitem(last=False)

    def news(self, entries: list[Entry]) -> list[Entry]:
        """New numbers, and replaced entries among those tracked (searched from the end)."""
        held = self.held
        stop = next(iter(held), self.last + 1)
        found = []
        for entry in reversed(entries):
            if entry.seq < stop:
                break
            if entry.seq > self.last or held.get(entry.seq, entry) is not entry:
                found.append(entry)
        found.reverse()
        self._note(found)
        return found


def openapi_paths(operation: Callable[..., dict[str, Any]], ok: Callable[..., dict[str, Any]],
                  param: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The dashboard's routes for the control API's OpenAPI document (admin.py's helpers build them)."""
    token = param("token", {"type": "string"}, "the admin token, for a browser (instead of Authorization)")
    asset = param("asset", {"type": "string", "enum": sorted(ASSETS)}, "a file of the page", "path")
    return {
        "/__mock/ui": {"get": operation("The dashboard page (docs/dashboard.md)",
                                        ok("the page", {"type": "string"}, media="text/html"),
                                        parameters=[token])},
        "/__mock/ui/events": {"get": operation(
            "Server-sent events: the journal's last entries, then each new batch (needs Accept: "
            "text/event-stream)", ok("the stream", {"type": "string"}, media="text/event-stream"),
            "bad_request", parameters=[token])},
        "/__mock/ui/state": {"get": operation(
            "What the dashboard's panels show: scenarios, runtime faults, sessions' state, the clock",
            ok("the snapshot", {"type": "object"}), parameters=[token])},
        "/__mock/ui/{asset}": {"get": operation(
            "A script or style sheet of the page (shipped in the package)",
            {"200": {"description": "the file", "content": {
                media: {"schema": {"type": "string"}} for media in ("text/javascript", "text/css",
                                                                    "text/plain")}}}, "not_found",
            parameters=[asset, token])},
    }
