"""Faithful answers to requests the HTTP parser rejects: 414, 431, 501 and 505 instead of 400.

aiohttp answers every parser error with ``HTTP/1.0 400 Bad Request`` before any handler runs.
RFC 9112 wants 414 for a request target too long, RFC 6585 431 for header fields too large,
RFC 9110 501 for an unknown method and 505 for a major version we do not serve, all answered
as HTTP/1.1. This module overrides aiohttp's private ``RequestHandler.handle_error`` (through
a Server subclass; every private touch goes through aiohttp_compat.py);
tests/protocol/test_triggers.py pins the behaviour, so an aiohttp upgrade that changes these
hooks fails loudly.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import http_exceptions, web, web_protocol
from aiohttp.web_request import BaseRequest

from .. import catalogue
from . import aiohttp_compat as compat

__all__ = ["FaithfulHandler", "classify_parser_error", "error_response", "faithful_runner"]


# RFC 9110 5.6.2: tchar; a method is a token, case-sensitive (9.1)
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
# bytes of a request head kept to explain a parser error: a default-sized request line and a
# hundred short fields; a bound per connection, as 20,000 connections may each hold one
_HEAD_KEPT = 16 * 1024


# what each parser exception means, in the client's terms (the parser's own words follow)
_DESCRIPTIONS: tuple[tuple[type[BaseException], str], ...] = (
    (http_exceptions.TransferEncodingError, "the chunked request body is malformed"),
    (http_exceptions.ContentLengthError, "the request body does not match its Content-Length"),
    (http_exceptions.InvalidHeader, "a header field is malformed"),
    (http_exceptions.InvalidURLError, "the request target is malformed"),
)


def _what(exc: BaseException | None) -> str:
    """The parser's own reason in one line ("Invalid header value char"), for the error body."""
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) and message else (str(exc) if exc is not None else "")
    return text.split("\n")[0].strip().rstrip(":").strip()


def classify_parser_error(exc: BaseException | None, head: bytes = b"", *, max_line: int = 8190,
                          max_headers: int = 100) -> tuple[int, str]:
    """The status a faithful server answers for a parser error, and what was wrong.

    Decided from the exception's type and from *head*, the bytes of the request that failed as
    they arrived (its request line, and as much of its header block as was kept), never from the
    parser's message text: the C (llhttp) and pure-Python parsers word their errors differently
    and raise different types for the same fault (llhttp rejects ``BREW`` as a bad method, the
    Python parser accepts any token). The RFCs: a malformed request line is 400 (RFC 9112 3), a
    well-formed method not implemented 501 (RFC 9110 15.6.2), a target too long 414, header
    fields too large 431 (RFC 6585 5), a major version not served 505."""
    if head.startswith(b"\x16\x03"):  # a TLS record header: a ClientHello
        return 400, "TLS traffic reached the plain-HTTP port; use http://, or serve with --tls."
    first, newline, rest = head.partition(b"\n")
    line = first.rstrip(b"\r")
    complete = bool(newline)
    method, space, after = line.partition(b" ")
    if isinstance(exc, http_exceptions.LineTooLong) and (not complete or len(line) > max_line):
        if space and _TOKEN.fullmatch(method):
            return 414, "The request target is longer than this server accepts."
        return 400, "The request line is malformed: no method token followed by a space before the limit."
    if (method or space) and not _TOKEN.fullmatch(method):
        shown = method[:40].decode("latin-1")
        return 400, (f"The request line is malformed: the method {shown!r} is not a token "
                     "(RFC 9110 9.1: letters, digits and !#$%&'*+-.^_`|~).")
    if complete:
        target, space2, version = after.partition(b" ")
        if not space or not space2 or not target or b" " in version:
            return 400, "The request line is malformed: expected 'method SP target SP HTTP/x.y'."
        match = _VERSION.fullmatch(version)
        if match is None:
            if method == b"PRI" and version == b"HTTP/2.0":
                return 505, "HTTP/2 prior knowledge is not served here; use HTTP/1.1."
            return 400, (f"The request line is malformed: the version "
                         f"{version[:20].decode('latin-1')!r} is not HTTP/x.y.")
        if match.group(1) != b"1":
            if method == b"PRI":
                return 505, "HTTP/2 prior knowledge is not served here; use HTTP/1.1."
            return 505, "Only HTTP/1.0 and HTTP/1.1 are served here."
        if isinstance(exc, http_exceptions.BadHttpMethod):  # llhttp: a token it does not know
            return 501, f"The method {method.decode('latin-1')!r} is not implemented here."
        if isinstance(exc, http_exceptions.LineTooLong):
            return 431, "A request header field is larger than this server accepts."
        block = rest.partition(b"\r\n\r\n")[0]
        fields = block.count(b"\n") + 1 if block.strip() else 0
        # llhttp refuses field max_headers + 1, the Python parser field max_headers
        if isinstance(exc, http_exceptions.BadHttpMessage) and fields >= max_headers:
            return 431, f"The request has more header fields than this server accepts ({max_headers})."
        if isinstance(exc, http_exceptions.InvalidURLError):
            return 400, f"The request target is malformed: {_what(exc)}."
    elif isinstance(exc, http_exceptions.BadHttpMethod) and space:  # a token, then the parser gave up
        return 501, f"The method {method.decode('latin-1')!r} is not implemented here."
    what = _what(exc)
    for kind, description in _DESCRIPTIONS:
        if isinstance(exc, kind):
            what = f"{description} ({what})" if what else description
            break
    return 400, f"The request could not be parsed: {what}." if what else "The request could not be parsed."


def error_response(status: int, message: str, extra: dict[str, str] | None = None) -> web.Response:
    """A catalogue answer that closes the connection (the parser state is lost)."""
    headers = {"Content-Type": "application/json", **dict(catalogue.required_headers(status)),
               **(extra or {})}
    response = web.Response(status=status, reason=catalogue.reason_phrase(status),
                            body=catalogue.error_body(status, message), headers=headers)
    response.force_close()
    return response


_parse = compat.RequestHandler.data_received  # aiohttp's own, without super()'s lookup on every read


class FaithfulHandler(compat.RequestHandler):
    # aiohttp has no timeout for a request whose headers never complete (slowloris), and closes a
    # connection that never sends a byte only after keepalive_timeout. The header timeout runs
    # from the moment the connection opens and again from the first byte of each later request:
    # a silent connection is closed (FIN, nothing to answer), a partial head gets 408 first
    # (RFC 9110 15.5.9). Between requests, aiohttp's keepalive_timeout closes an idle connection.
    header_timeout: float = 30.0
    max_connections: int = 0
    max_line: int = 8190
    max_headers: int = 100
    _header_timer: asyncio.TimerHandle | None = None
    _head: bytes = b""  # the part of a request head received so far (bounded), while it arrives
    _last_head: bytes = b""  # the bytes that completed (or broke) the last head: explains a parser error
    _silent: bool = True  # not one byte has arrived on this connection
    answers: int = 0  # answers counted on this connection (the keepalive_drop fault)
    close_on_data: bool = False  # the keepalive_race fault: the next request's bytes get a FIN

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.max_connections and compat.open_connections(self) > self.max_connections:
            # over the limit: a faithful 503 with Retry-After, then close, instead of a stall
            self._refuse(transport, 503, "Too many open connections; retry later.", b"Retry-After: 1\r\n")
            return
        if self.header_timeout > 0:
            loop = compat.handler_loop(self)
            self._header_timer = loop.call_later(self.header_timeout, self._headers_stalled, 0)

    def data_received(self, data: bytes) -> None:
        if self.close_on_data and data and self.transport is not None:
            self.transport.close()  # unread: the request dies with the connection, as in the race
            return
        if compat.head_refused(self):
            # the rest of a refused head (a 70 kB request line in two reads): parsed, it would be
            # refused again, and the answer would explain the tail instead of the line (414 -> 400)
            return
        count = compat.requests_begun(self)
        head = self._head + data if self._head else data
        self._silent = False
        if head.startswith(b"\x16\x03") and compat.between_requests(self) and self.transport is not None:
            # a TLS ClientHello where a request line should begin; the pure-Python parser would
            # wait for a line end that never comes
            self._disarm()
            status, message = classify_parser_error(None, head)
            self._refuse(self.transport, status, message)
            return
        _parse(self, data)
        if compat.requests_begun(self) != count:  # a request's head is complete, or the parser refused it
            if self._header_timer is not None:
                self._disarm()
            self._head, self._last_head = b"", head[:_HEAD_KEPT]  # the same object when shorter
        elif compat.between_requests(self) and self.transport is not None:
            self._head = head[:_HEAD_KEPT]  # still reading a head
            if self._header_timer is None and data and self.header_timeout > 0:
                loop = compat.handler_loop(self)
                self._header_timer = loop.call_later(self.header_timeout, self._headers_stalled, count)

    def _refuse(self, transport: asyncio.BaseTransport, status: int, message: str,
                extra: bytes = b"") -> None:
        """Answer with the catalogue's error body straight on the transport, then close: there is
        no request (or no parsable one) for aiohttp to answer."""
        body = catalogue.error_body(status, message)
        if callable(getattr(transport, "write", None)):  # uvloop's are not WriteTransport subclasses
            cast("asyncio.WriteTransport", transport).write(
                b"HTTP/1.1 %d " % status + catalogue.reason_phrase(status).encode() + b"\r\n"
                b"Content-Type: application/json\r\n" + extra + b"Connection: close\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.force_close()

    def method_as_sent(self) -> bytes:
        """The method token of the last request head as it came off the wire (the pure-Python
        parser upper-cases it; methods are case-sensitive, RFC 9110 9.1)."""
        return self._last_head.partition(b" ")[0][:32]

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_stalled(self, count: int) -> None:
        self._header_timer = None
        transport = self.transport
        if compat.requests_begun(self) != count or transport is None or transport.is_closing():
            return
        if self._silent:  # no request began: nothing to answer, the connection just ends
            self.force_close()
            return
        self._refuse(transport, 408, "The request headers did not arrive in time.")

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status != 400 or not isinstance(exc, http_exceptions.HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response")
        code, explanation = classify_parser_error(exc, self._last_head, max_line=self.max_line,
                                                  max_headers=self.max_headers)
        # the stub message of a parser error is HTTP/1.0; a faithful server answers HTTP/1.1
        compat.answer_as_http11(request)
        return error_response(code, explanation)


class _FaithfulServer(compat.Server):
    header_timeout = 30.0
    max_connections = 0

    def __call__(self) -> web_protocol.RequestHandler:
        settings = compat.server_settings(self)
        handler = FaithfulHandler(self, loop=compat.server_loop(self), **settings)
        handler.header_timeout = self.header_timeout
        handler.max_connections = self.max_connections
        handler.max_line = settings.get("max_line_size", 8190)
        handler.max_headers = settings.get("max_headers", 100)
        return handler


def faithful_runner(
    handler: Callable[[BaseRequest], Awaitable[web.StreamResponse]],
    *,
    max_body_size: int,
    header_timeout: float = 30.0,
    max_connections: int = 0,
    shutdown_timeout: float = 60.0,
    **handler_kwargs: Any,
) -> web.ServerRunner:
    """aiohttp's low-level server (no Application, no router: one handler takes every request)
    whose connections answer parser errors with the faithful status, stalled request headers
    with 408 after *header_timeout* seconds, and connections beyond *max_connections* (0: no
    limit) with 503. *handler_kwargs* go to each connection (max_line_size, access_log...)."""
    loop = asyncio.get_running_loop()

    def make_request(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> BaseRequest:
        return BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=max_body_size)

    server = _FaithfulServer(handler, request_factory=make_request, **handler_kwargs)
    server.header_timeout = header_timeout
    server.max_connections = max_connections
    return web.ServerRunner(server, shutdown_timeout=shutdown_timeout)
