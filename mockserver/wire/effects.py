"""Faults on the wire: what the server does to the connection when a resolution names a fault.

Each fault is distinct on the wire, as a real failure is (chaos-and-semantics.md, part C):
a reset is a real RST (SO_LINGER 0), a close is a FIN with no bytes, truncation promises more
body than it sends and then closes. Faults that write raw bytes always close the connection
afterwards, so aiohttp never writes a second response on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import struct
import weakref
from collections.abc import Sequence
from email.utils import formatdate

from aiohttp import web

from ..chaos import Fault

__all__ = ["drip_schedule", "perform_fault", "rst", "send_raw"]

_KEEPALIVE_COUNTS: weakref.WeakKeyDictionary[asyncio.BaseTransport, int] = weakref.WeakKeyDictionary()


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


def garbage(seed: int, key: str, ordinal: int, size: int) -> bytes:
    """Seeded random bytes: the same seed, rule and ordinal always give the same garbage."""
    return hashlib.shake_256(f"{seed}\0{key}\0{ordinal}".encode()).digest(size)


async def _closed_or(transport: asyncio.BaseTransport, seconds: float) -> None:
    """Sleep *seconds*, or less when the client goes away first (so hung tasks do not pile up)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not transport.is_closing():
        left = end - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.25))


async def perform_fault(
    fault: Fault,
    request: web.BaseRequest,
    status: int,
    reason: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    seed: int,
    key: str,
    ordinal: int,
    max_hang: float,
    time_scale: float = 1.0,
) -> web.StreamResponse | None:
    """Carry out *fault*. Returns the response aiohttp should finish, or None when the fault
    took the connection over (aiohttp's later write on a closed transport is a no-op)."""
    transport = request.transport
    if transport is None:
        return None
    kind = fault.type
    if kind in ("reset", "close", "drop") and fault.after:
        await _closed_or(transport, fault.after * time_scale)
    if kind == "reset":
        rst(transport)
        return None
    if kind in ("close", "drop"):
        transport.close()
        return None
    if kind == "hang":
        await _closed_or(transport, max_hang)
        transport.close()
        return None
    if kind == "truncate":
        sent = fault.bytes if fault.bytes is not None else int(len(body) * fault.fraction)
        sent = min(sent, max(len(body) - 1, 0))
        transport.write(_head(status, reason, headers, [("Content-Length", str(len(body)))]) + body[:sent])
        transport.close()
        return None
    if kind == "malformed_chunk":
        half = body[: max(1, len(body) // 2)]
        # one write: a pause before the bad chunk leaves aiohttp's client (3.14) waiting forever
        # instead of failing, which would test the client's timeout, not its chunk parsing
        transport.write(_head(status, reason, headers, [("Transfer-Encoding", "chunked")])
                        + f"{len(half):x}\r\n".encode() + half + b"\r\nZZZ-not-hex\r\n" + body[len(half):])
        transport.close()
        return None
    if kind == "garbage":
        transport.write(garbage(seed, key, ordinal, fault.bytes if fault.bytes is not None else 256))
        transport.close()
        return None
    if kind == "malformed_status":
        line = f"HTTP/1.1 {status}x {reason}".encode()
        transport.write(_head(status, reason, headers, [("Content-Length", str(len(body)))], line) + body)
        transport.close()
        return None
    if kind == "slow_headers":
        await _closed_or(transport, fault.delay * time_scale)
        head = _head(status, reason, headers, [("Content-Length", str(len(body)))])
        for start in range(0, len(head), fault.chunk_size):
            if transport.is_closing():
                return None
            transport.write(head[start:start + fault.chunk_size])
            await asyncio.sleep(fault.interval * time_scale)
        if not transport.is_closing():
            transport.write(body)
            transport.close()
        return None
    if kind == "drip":
        return await _drip(fault, request, status, reason, headers, body, time_scale)
    if kind == "keepalive_drop":
        count = _KEEPALIVE_COUNTS.get(transport, 0) + 1
        _KEEPALIVE_COUNTS[transport] = count
        response = web.Response(status=status, reason=reason, headers=headers, body=body or None)
        await response.prepare(request)
        await response.write_eof()
        if count >= fault.requests:
            # silently, with no Connection: close: the client learns on its next request
            await asyncio.sleep(0)
            transport.close()
        return response
    raise ValueError(f"unknown fault type {kind!r}")  # pragma: no cover - validated at load


async def wait_closed(request: web.BaseRequest, seconds: float) -> None:
    """Hold the connection until the client gives up or *seconds* pass, then close it."""
    transport = request.transport
    if transport is not None:
        await _closed_or(transport, seconds)
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


def drip_schedule(fault: Fault, body: bytes) -> list[tuple[float, bytes]]:
    """When each piece of a dripped body is due, in seconds after the headers, and the piece.

    The last piece is due when the whole body is: at ``over`` for ``chunks: N, over: D`` (N
    pieces, one every D/N, the first after D/N, so ``chunks: 1`` still takes D), and at
    len(body) / rate for ``rate:`` (pieces of a tenth of a second's bytes). A body shorter than
    N bytes goes in one-byte pieces, still ending at D; an empty body is complete at once.
    """
    size = len(body)
    if fault.rate:
        piece = max(1, int(fault.rate / 10))  # ten writes a second
        return [(min(start + piece, size) / fault.rate, body[start:start + piece])
                for start in range(0, size, piece)]
    count = min(max(1, fault.chunks), size)
    if not count:
        return []
    bounds = [size * k // count for k in range(count + 1)]  # sizes differ by one byte at most
    return [(fault.over * k / count, body[bounds[k - 1]:bounds[k]]) for k in range(1, count + 1)]


async def _drip(fault: Fault, request: web.BaseRequest, status: int, reason: str,
                headers: list[tuple[str, str]], body: bytes, time_scale: float) -> web.StreamResponse:
    """The body in pieces on a schedule (drip_schedule), correctly framed (Content-Length).

    Each piece waits for its due time on the loop's clock, not for a fixed pause after the
    previous write, so slow writes do not push the end later than declared.
    """
    response = web.StreamResponse(status=status, reason=reason, headers=headers)
    response.content_length = len(body)
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for due, piece in drip_schedule(fault, body):
        wait = start + due * time_scale - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if piece:
            await response.write(piece)
    await response.write_eof()
    return response
