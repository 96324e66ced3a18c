"""Faithful answers to requests the HTTP parser rejects: 414, 431, 501 and 505 instead of 400.

aiohttp answers every parser error with ``HTTP/1.0 400 Bad Request`` before any handler runs.
RFC 9112 wants 414 for a request target too long, RFC 6585 431 for header fields too large,
RFC 9110 501 for an unknown method and 505 for a major version we do not serve, all answered
as HTTP/1.1. This module overrides aiohttp's private ``RequestHandler.handle_error`` (through
a Server subclass); tests/protocol/test_triggers.py pins the behaviour, so
an aiohttp upgrade that changes these hooks fails loudly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import http_exceptions, web, web_protocol, web_server
from aiohttp.http import HttpVersion11
from aiohttp.web_request import BaseRequest

from . import catalogue

__all__ = ["classify_parser_error", "error_response", "faithful_runner"]


def classify_parser_error(exc: BaseException | None) -> tuple[int, str]:
    """The status a faithful server answers for a parser error, and a short explanation."""
    text = str(exc) if exc is not None else ""
    if isinstance(exc, http_exceptions.LineTooLong):
        line = repr(exc.args[0]) if exc.args else ""
        # the C parser hands over the start of the line: a request target starts with / * or a scheme
        target = any(m in line[:40] for m in ("(b'/", "b'/", "(b'*", "b'*", "b'http", "(b'http"))
        if target:
            return 414, "The request target is longer than this server accepts."
        return 431, "A request header field is larger than this server accepts."
    if isinstance(exc, http_exceptions.BadHttpMessage) and "Too many headers" in text:
        return 431, "The request has more header fields than this server accepts."
    if isinstance(exc, http_exceptions.BadHttpMethod):
        if "HTTPS traffic" in text:
            return 400, "TLS traffic reached the plain-HTTP port."
        return 501, "The request method is not one this server implements."
    if isinstance(exc, http_exceptions.BadStatusLine) and "version" in text.lower():
        return 505, "Only HTTP/1.0 and HTTP/1.1 are served here."
    if isinstance(exc, http_exceptions.BadHttpMessage) and "PRI" in text:
        return 505, "HTTP/2 prior knowledge is not served here; use HTTP/1.1."
    return 400, text.split("\n")[0] or "The request could not be parsed."


def error_response(status: int, message: str, extra: dict[str, str] | None = None) -> web.Response:
    """A catalogue answer that closes the connection (the parser state is lost)."""
    headers = {"Content-Type": "application/json", **dict(catalogue.required_headers(status)),
               **(extra or {})}
    response = web.Response(status=status, reason=catalogue.reason_phrase(status),
                            body=catalogue.error_body(status, message), headers=headers)
    response.force_close()
    return response


class _FaithfulHandler(web_protocol.RequestHandler):
    # aiohttp has no timeout for a request whose headers never complete (slowloris): it closes
    # such a connection silently after keepalive_timeout. RFC 9110 15.5.9 wants 408 first.
    header_timeout: float = 30.0
    max_connections: int = 0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        manager = self._manager
        # _connections, not .connections: the property copies the list on every accept
        if self.max_connections and manager is not None and len(manager._connections) > self.max_connections:
            # over the limit: a faithful 503 with Retry-After, then close, instead of a stall
            body = catalogue.error_body(503, "Too many open connections; retry later.")
            if callable(getattr(transport, "write", None)):  # uvloop's are not WriteTransport subclasses
                cast("asyncio.WriteTransport", transport).write(
                    b"HTTP/1.1 503 " + catalogue.reason_phrase(503).encode() + b"\r\n"
                    b"Content-Type: application/json\r\nRetry-After: 1\r\n"
                    b"Connection: close\r\nContent-Length: " + str(len(body)).encode()
                    + b"\r\n\r\n" + body)
            self.force_close()

    def data_received(self, data: bytes) -> None:
        count = self._request_count
        super().data_received(data)
        if self._request_count != count:  # a request's headers are complete
            self._disarm()
        elif (data and self._header_timer is None and not self._request_in_progress
              and not self._messages and self.transport is not None):
            self._header_timer = self._loop.call_later(self.header_timeout, self._headers_stalled, count)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_stalled(self, count: int) -> None:
        self._header_timer = None
        transport = self.transport
        if self._request_count != count or transport is None or transport.is_closing():
            return
        body = catalogue.error_body(408, "The request headers did not arrive in time.")
        transport.write(b"HTTP/1.1 408 " + catalogue.reason_phrase(408).encode() + b"\r\n"
                        b"Content-Type: application/json\r\nConnection: close\r\n"
                        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status != 400 or not isinstance(exc, http_exceptions.HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response")
        code, explanation = classify_parser_error(exc)
        # the stub message of a parser error is HTTP/1.0; a faithful server answers HTTP/1.1
        request._cache["version"] = HttpVersion11
        return error_response(code, explanation)


class _FaithfulServer(web_server.Server):
    header_timeout = 30.0
    max_connections = 0

    def __call__(self) -> web_protocol.RequestHandler:
        handler = _FaithfulHandler(self, loop=self._loop, **self._kwargs)
        handler.header_timeout = self.header_timeout
        handler.max_connections = self.max_connections
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
