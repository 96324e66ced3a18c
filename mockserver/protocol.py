"""Faithful answers to requests the HTTP parser rejects: 414, 431, 501 and 505 instead of 400.

aiohttp answers every parser error with ``HTTP/1.0 400 Bad Request`` before any handler runs.
RFC 9112 wants 414 for a request target too long, RFC 6585 431 for header fields too large,
RFC 9110 501 for an unknown method and 505 for a major version we do not serve, all answered
as HTTP/1.1. This module overrides aiohttp's private ``RequestHandler.handle_error`` (through
a Server and AppRunner subclass); tests/protocol/test_parser_errors.py pins the behaviour, so
an aiohttp upgrade that changes these hooks fails loudly.
"""

from __future__ import annotations

from typing import Any

from aiohttp import http_exceptions, web, web_protocol, web_server
from aiohttp.http import HttpVersion11
from aiohttp.web_request import BaseRequest

from . import catalogue

__all__ = ["FaithfulRunner", "classify_parser_error"]


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
    def __call__(self) -> web_protocol.RequestHandler:
        return _FaithfulHandler(self, loop=self._loop, **self._kwargs)


class FaithfulRunner(web.AppRunner):
    """An AppRunner whose connections answer parser errors with the faithful status."""

    async def _make_server(self) -> web_server.Server:
        server: Any = await super()._make_server()
        server.__class__ = _FaithfulServer
        return server  # type: ignore[no-any-return]
