"""An answer serialized to HTTP/1.x bytes in one join and written with one call.

aiohttp's ``web.Response`` builds a header multidict, checks it and serializes it again for
every request; on the benchmark's static rule that cost more CPU than the whole scenario engine.
A mock answer is already decided and its headers already validated, so ``encode`` produces the
bytes aiohttp would have sent (same header order, the same Content-Length, Content-Type, Date,
Server and Connection rules, RFC 9110 6.4.1 / 8.6 / 9112 9.3) and ``Sent`` hands them to the
transport. Answers that declare their own framing (Content-Length, Transfer-Encoding) keep
using ``web.Response``.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE, HttpVersion

from .aiohttp_compat import made_response, mark_sent, rfc822_formatted_time, sent

__all__ = ["Sent", "encode"]

_SERVER = f"Server: {SERVER_SOFTWARE}\r\n"


def encode(version: HttpVersion, status: int, reason: str, headers: Sequence[tuple[str, str]],
           body: bytes, method: str, keep_alive: bool) -> tuple[bytes, bool] | None:
    """The answer's bytes, and whether the connection stays open after it; None when the answer
    declares its own framing (Content-Length, Transfer-Encoding), which only aiohttp's writer
    may honour.

    Raises ValueError on a CR or LF in a header (response splitting), as aiohttp's serializer does.
    """
    block = "".join([f"{name}: {value}\r\n" for name, value in headers])
    if block.count("\n") != len(headers) or block.count("\r") != len(headers) \
            or "\n" in reason or "\r" in reason:  # one CRLF per header line, no more
        raise ValueError("Newline or carriage return character detected in an HTTP header")
    names = "\n" + block.lower()  # every header name now follows a "\n"
    if "\ncontent-length:" in names or "\ntransfer-encoding:" in names:
        return None
    no_body = status < 200 or status in {204, 304}
    empty = no_body or method == "HEAD"
    has_connection = "\nconnection:" in names
    if has_connection and any(name.lower() == "connection" and "close" in value.lower()
                              for name, value in headers):
        keep_alive = False
    parts = [f"HTTP/{version.major}.{version.minor} {status} {reason}\r\n", block]
    if not no_body and (body or method != "HEAD"):
        parts.append(f"Content-Length: {len(body)}\r\n")
    if body and not empty and "\ncontent-type:" not in names:
        parts.append("Content-Type: application/octet-stream\r\n")  # RFC 9110 8.3: SHOULD send one
    if "\ndate:" not in names:
        parts.append(f"Date: {rfc822_formatted_time()}\r\n")
    if "\nserver:" not in names:
        parts.append(_SERVER)
    if not has_connection:
        if keep_alive and version.minor == 0:
            parts.append("Connection: keep-alive\r\n")
        elif not keep_alive and version.minor == 1:
            parts.append("Connection: close\r\n")
    parts.append("\r\n")
    data = "".join(parts).encode("utf-8")
    return (data if empty else data + body), keep_alive


class Sent(web.StreamResponse):
    """A response whose bytes are made: ``send`` writes them once; aiohttp's later prepare() and
    write_eof() find nothing left to do, and read keep_alive to decide about the connection."""

    def __init__(self, status: int, reason: str, data: bytes, keep_alive: bool) -> None:
        # not StreamResponse.__init__: its header multidict would never be read (the bytes are made)
        made_response(self, status, reason, keep_alive)
        self._data = data

    async def send(self, request: web.BaseRequest) -> None:
        """Write the bytes; ConnectionResetError when the client is already gone."""
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(self._data)
        mark_sent(self)
        await request.writer.drain()  # back-pressure: a big body waits for the socket

    async def prepare(self, request: web.BaseRequest) -> None:
        if not sent(self):
            await self.send(request)

    async def write_eof(self, data: bytes = b"") -> None:
        return None
