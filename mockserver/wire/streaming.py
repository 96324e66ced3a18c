"""The wire's side of a streaming answer: write a StreamPlan (streams.py) event by event, each
flushed as it goes, and end it as planned (the last chunk, a FIN without it, or a RST)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from aiohttp import web

from ..rules import WebSocketStep
from ..streams import Stream, StreamPlan
from .effects import rst

__all__ = ["MALFORMED_FRAME", "send_stream", "stream_headers", "websocket_fault"]

_REPLACED = {"content-length", "content-type", "transfer-encoding"}


def stream_headers(stream: Stream, headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The answer's headers for a stream: its media type; no length (chunked); SSE not cached."""
    kept = [(k, v) for k, v in headers if k.lower() not in _REPLACED]
    kept.append(("Content-Type", stream.media_type))
    if stream.format == "sse" and not any(k.lower() == "cache-control" for k, _ in kept):
        kept.append(("Cache-Control", "no-cache"))
    return kept


async def send_stream(request: web.BaseRequest, plan: StreamPlan, status: int, reason: str,
                      headers: list[tuple[str, str]], *, time_scale: float, max_hang: float,
                      ending: Callable[[int, str], None]) -> tuple[web.StreamResponse, int, str]:
    """Send the stream; returns the response aiohttp should finish, the events written, and how
    it ended: clean, abrupt, reset, or client_gone (the client left first).

    *ending* (events sent, how it ends) is called before the last bytes, the FIN or the RST go
    out, so a client that has seen the end finds it journaled; a failed last write calls it
    again with client_gone."""
    response = web.StreamResponse(status=status, reason=reason, headers=headers)
    await response.prepare(request)
    transport = request.transport
    sent = 0
    steps = plan.steps if request.method != "HEAD" else ()
    for step in steps:
        if step.wait > 0:
            await asyncio.sleep(min(step.wait * time_scale, max_hang))
        if transport is None or transport.is_closing():
            ending(sent, "client_gone")
            return web.Response(status=status, reason=reason), sent, "client_gone"
        try:
            await response.write(step.data)
        except ConnectionError:
            ending(sent, "client_gone")
            return web.Response(status=status, reason=reason), sent, "client_gone"
        sent += 1
    if plan.end == "clean" or transport is None:
        ending(sent, "clean")
        try:
            await response.write_eof()
        except ConnectionError:
            ending(sent, "client_gone")
            return web.Response(status=status, reason=reason), sent, "client_gone"
        return response, sent, "clean"
    ending(sent, plan.end)
    if plan.end == "reset":
        rst(transport)
    else:
        transport.close()  # FIN without the last chunk: the client's body is incomplete
    # aiohttp finishes this unprepared response on a closed transport: a no-op
    return web.Response(status=status, reason=reason), sent, plan.end


# a frame a client must fail the connection on (RFC 6455 5.2): FIN, reserved opcode 0x3, no payload
MALFORMED_FRAME = b"\x83\x00"


def websocket_fault(request: web.BaseRequest, step: WebSocketStep) -> str:
    """A fault step of a WebSocket script: abort (FIN, no close frame), reset (RST), or a malformed
    frame written under aiohttp's writer. Returns the journal's fault name."""
    transport = request.transport
    name = "websocket_abort" if step.abort else "websocket_reset" if step.reset else "websocket_malformed"
    if transport is None or transport.is_closing():
        return name
    if step.malformed:
        transport.write(MALFORMED_FRAME)
    elif step.reset:
        rst(transport)
    else:
        transport.close()
    return name
