"""Raw effects on a connection: RST, waiting for the client to go, and answers sent as written.

The faults themselves live in mockserver/faults/ (one module each) and reach the connection
through wire/exchange.py; these are the transport-level pieces they and break_protocol share.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Sequence
from email.utils import formatdate

from aiohttp import web

__all__ = ["closed_or", "rst", "send_raw", "wait_closed"]


def rst(transport: asyncio.BaseTransport | None) -> None:
    """Close with SO_LINGER(1, 0): the kernel sends RST instead of FIN."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already gone: close() below is all that is left
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.close()


def _head(status: int, reason: str, headers: Sequence[tuple[str, str]], extra: Sequence[tuple[str, str]],
          status_line: bytes | None = None) -> bytes:
    lines = [status_line or f"HTTP/1.1 {status} {reason}".encode()]
    for name, value in [*headers, *extra, ("Date", formatdate(usegmt=True)), ("Connection", "close")]:
        lines.append(f"{name}: {value}".encode("latin-1", "replace"))
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def closed_or(transport: asyncio.BaseTransport, seconds: float) -> None:
    """Sleep *seconds*, or less when the client goes away first (so hung tasks do not pile up)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not transport.is_closing():
        left = end - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.25))


async def wait_closed(request: web.BaseRequest, seconds: float) -> None:
    """Hold the connection until the client gives up or *seconds* pass, then close it."""
    transport = request.transport
    if transport is not None:
        await closed_or(transport, seconds)
        transport.close()


async def send_raw(request: web.BaseRequest, status: int, reason: str, headers: list[tuple[str, str]],
                   body: bytes) -> None:
    """Send exactly this answer, even where HTTP forbids it (a body on a 204, a final 1xx), then
    close: aiohttp would strip or refuse it, and the connection cannot be trusted afterwards."""
    transport = request.transport
    if transport is None:
        return
    extra = [("Content-Length", str(len(body)))] if body else []
    transport.write(_head(status, reason, headers, extra) + body)
    if status >= 200:
        transport.close()
