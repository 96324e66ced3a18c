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
from typing import TYPE_CHECKING, Literal, cast

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE, HttpVersion

from .aiohttp_compat import made_response, mark_sent, rfc822_formatted_time, sent

if TYPE_CHECKING:
    from ..responses import Plan

__all__ = ["Sent", "encode", "encode_verbatim"]

_SERVER = f"Server: {SERVER_SOFTWARE}\r\n"


def encode(version: HttpVersion, status: int, reason: str, headers: Sequence[tuple[str, str]],
           body: bytes, method: str, keep_alive: bool, date: str | None = None) -> tuple[bytes, bool] | None:
    """The answer's bytes, and whether the connection stays open after it; None when the answer
    declares its own framing (Content-Length, Transfer-Encoding), which only aiohttp's writer
    may honour. *date* stands in for the Date value (encode_verbatim's template).

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
        parts.append(f"Date: {rfc822_formatted_time() if date is None else date}\r\n")
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


_ID, _DATE = "\x00id\x00", "\x00date\x00"  # never in a header: encode refuses control characters there
# before the id, up to the date, after it; None: declared framing (aiohttp's); False: no template
_Template = tuple[bytes, bytes, bytes | None, bool] | Literal[False] | None
_date: list[tuple[str, bytes]] = [("", b"")]  # the last Date value and its bytes (one per second)


def encode_verbatim(plan: Plan, request_id: str, version: HttpVersion, method: str,
                    keep_alive: bool) -> tuple[bytes, bool] | None:
    """``encode`` for an answer that repeats *plan* (``Answer.verbatim``): the same bytes, from a
    template made once per plan and kind of request, with the request id and Date put in. The
    header checks and the framing rules ran when the template was made."""
    key = (version, method == "HEAD", keep_alive)
    memo = plan.encoded
    if key in memo:
        made = cast("_Template", memo[key])
    else:
        made = memo[key] = _template(plan, version, method, keep_alive)
    if made is None:
        return None
    if made is False:  # a header of the plan holds a marker: no template, made the long way
        return encode(version, plan.status, plan.reason, plan.verbatim_headers(request_id), plan.body,
                      method, keep_alive)
    before, middle, after, alive = made
    if after is None:  # the plan sends its own Date
        return before + request_id.encode() + middle, alive
    text, data = _date[0]
    now = rfc822_formatted_time()
    if now is not text:
        data = now.encode()
        _date[0] = (now, data)
    return b"".join((before, request_id.encode(), middle, data, after)), alive


def _template(plan: Plan, version: HttpVersion, method: str, keep_alive: bool) -> _Template:
    encoded = encode(version, plan.status, plan.reason, plan.verbatim_headers(_ID), plan.body, method,
                     keep_alive, _DATE)
    if encoded is None:
        return None
    data, alive = encoded
    if data.count(_ID.encode()) != 1 or data.count(_DATE.encode()) > 1:
        return False
    before, _, rest = data.partition(_ID.encode())
    middle, dated, after = rest.partition(_DATE.encode())
    return before, middle, after if dated else None, alive


class Sent(web.StreamResponse):
    """A response whose bytes are made: ``send`` writes them once; aiohttp's later prepare() and
    write_eof() find nothing left to do, and read keep_alive to decide about the connection."""

    def __init__(self, status: int, reason: str, data: bytes, keep_alive: bool) -> None:
        # not StreamResponse.__init__: its header multidict would never be read (the bytes are made)
        made_response(self, status, reason, keep_alive)
        self._data = data

    async def send(self, request: web.BaseRequest) -> None:
        """Write the bytes; ConnectionResetError when the client is already gone."""
        if self.push(request):
            await request.writer.drain()

    def push(self, request: web.BaseRequest) -> bool:
        """Hand the bytes to the transport; True when some are still buffered, so the caller
        should wait for the socket (``writer.drain``): back-pressure for a body it did not take.
        ConnectionResetError when the client is already gone."""
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(self._data)
        mark_sent(self)
        return bool(transport.get_write_buffer_size())

    async def prepare(self, request: web.BaseRequest) -> None:
        if not sent(self):
            await self.send(request)

    async def write_eof(self, data: bytes = b"") -> None:
        return None
