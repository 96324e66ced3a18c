"""The wire's side of a fault: Exchange (faults/) implemented on an aiohttp request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from ..faults import Fault, seeded_bytes
from ..faults.bandwidth import Bandwidth
from ..rules import Rule
from .connection import FaithfulHandler
from .effects import closed_or, rst

__all__ = ["WireExchange", "apply_fault", "read_throttled", "upstream_rate"]


class WireExchange:
    """One request's connection, as a fault sees it; ``response`` is what aiohttp should finish."""

    __slots__ = ("_decisions", "_key", "_ordinal", "_request", "_seed", "_time_scale", "_transport", "body",
                 "headers", "max_hang", "reason", "response", "status")

    def __init__(self, request: web.BaseRequest, transport: asyncio.Transport, status: int, reason: str,
                 headers: Sequence[tuple[str, str]], body: bytes, *, seed: int, key: str, ordinal: int,
                 max_hang: float, time_scale: float, decisions: list[str] | None = None) -> None:
        self._request, self._transport = request, transport
        self._decisions = decisions
        self.status, self.reason, self.headers, self.body = status, reason, headers, body
        self._seed, self._key, self._ordinal = seed, key, ordinal
        self.max_hang, self._time_scale = max_hang, time_scale
        self.response: web.StreamResponse | None = None

    def write(self, data: bytes) -> None:
        self._transport.write(data)

    def close(self) -> None:
        self._transport.close()

    def reset(self) -> None:
        rst(self._transport)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self._time_scale)

    async def closed_or(self, seconds: float) -> None:
        await closed_or(self._transport, seconds)

    def scaled(self, seconds: float) -> float:
        return seconds * self._time_scale

    def garbage(self, size: int) -> bytes:
        return seeded_bytes(self._seed, self._key, self._ordinal, size)

    def count_answer(self) -> int:
        # the count lives with the connection (its handler), so it goes when the connection does
        protocol = self._request.protocol
        if not isinstance(protocol, FaithfulHandler):  # pragma: no cover - the server always uses it
            return 1
        protocol.answers += 1
        return protocol.answers

    async def answer(self) -> None:
        response = web.Response(status=self.status, reason=self.reason, headers=list(self.headers),
                                body=self.body or None)
        self.response = response
        await response.prepare(self._request)
        await response.write_eof()

    async def start_body(self, length: int) -> None:
        response = web.StreamResponse(status=self.status, reason=self.reason, headers=list(self.headers))
        response.content_length = length
        self.response = response
        await response.prepare(self._request)

    async def write_body(self, piece: bytes) -> None:
        assert self.response is not None, "start_body first"
        await self.response.write(piece)

    async def end_body(self) -> None:
        assert self.response is not None, "start_body first"
        await self.response.write_eof()

    def note(self, decision: str) -> None:
        if self._decisions is not None:
            self._decisions.append(decision)

    def close_on_next_request(self) -> None:
        protocol = self._request.protocol
        if isinstance(protocol, FaithfulHandler):
            protocol.close_on_data = True
        else:  # pragma: no cover - the server always uses it; closing now is the nearest
            self._transport.close()


async def apply_fault(fault: Fault, request: web.BaseRequest, status: int, reason: str,
                      headers: list[tuple[str, str]], body: bytes, *, seed: int, key: str, ordinal: int,
                      max_hang: float, time_scale: float = 1.0,
                      decisions: list[str] | None = None) -> web.StreamResponse | None:
    """Carry out *fault*. Returns the response aiohttp should finish, or None when the fault
    took the connection over (aiohttp's later write on a closed transport is a no-op).
    What the fault notes (its write plan) is appended to *decisions*, the journal entry's."""
    transport = request.transport
    if transport is None:
        return None
    exchange = WireExchange(request, transport, status, reason, headers, body, seed=seed, key=key,
                            ordinal=ordinal, max_hang=max_hang, time_scale=time_scale,
                            decisions=decisions)
    await fault.apply(exchange)
    return exchange.response


def upstream_rate(rule: Rule | None) -> float | None:
    """The request-body rate a rule's own fault asks for (bandwidth's ``upstream``), if any."""
    fault = rule.fault if rule is not None else None
    return fault.upstream if isinstance(fault, Bandwidth) else None


async def read_throttled(request: web.BaseRequest, rate: float, time_scale: float = 1.0) -> bytes:
    """The request body, read a tenth of a second's bytes at a time at *rate* bytes per second.

    Each piece waits for its due time on one clock, as the answer's pacing does; what the client
    sent beyond what has been read waits in aiohttp's and the kernel's buffers, so a body larger
    than those meets TCP back-pressure, and any body's answer comes no sooner than len/rate."""
    loop = asyncio.get_running_loop()
    start, received = loop.time(), bytearray()
    piece = max(1, int(rate / 10))
    while chunk := await request.content.read(piece):
        received += chunk
        wait = start + len(received) / rate * time_scale - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
    return bytes(received)
