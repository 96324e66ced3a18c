"""Every use of aiohttp's internals, in one module, checked against the installed aiohttp at import.

The wire layer needs a few things aiohttp does not offer publicly: a hook for parser errors, the
connection count, whether a request head is being read, the status-line version of a refusal, and
a response whose bytes are already made. Each is one small function or constant here, with why it
is needed; no other module touches an aiohttp attribute that starts with ``_`` (a test greps for
it). At import the installed version is compared with the range this code was tested against
(pyproject.toml pins the same range) and every private attribute is looked up, so an aiohttp that
moved one fails here, naming it, instead of as a wrong status code on the wire.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from typing import Any

import aiohttp
from aiohttp import http_parser, web, web_protocol, web_request, web_server
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import HttpRequestParser, HttpVersion11
from multidict import CIMultiDict

__all__ = [
    "PARSER_UPPERCASES_METHODS",
    "TESTED",
    "AiohttpMismatch",
    "RequestHandler",
    "Server",
    "answer_as_http11",
    "between_requests",
    "check",
    "handler_loop",
    "made_response",
    "mark_sent",
    "open_connections",
    "requests_begun",
    "rfc822_formatted_time",
    "sent",
    "server_loop",
    "server_settings",
]

# pyproject.toml's "aiohttp>=3.14.5,<3.15": the versions whose internals this module was tested with
TESTED = ("3.14.5", "3.15")

# The handler class whose connection_made/data_received/connection_lost and handle_error the
# wire layer overrides: exported, but handle_error (aiohttp's answer to a parser error, a plain
# HTTP/1.0 400) is not a documented extension point.
RequestHandler = web_protocol.RequestHandler
# The low-level server whose __call__ (the protocol factory) is replaced to build that handler.
Server = web_server.Server

# rfc822_formatted_time (imported above): aiohttp.helpers.__all__ leaves it out, yet it is the Date
# value aiohttp itself sends (cached per second); the made answers of http1.py send the same.

# shared and never written: a made response has no header object
_NO_HEADERS: CIMultiDict[str] = CIMultiDict()


class AiohttpMismatch(ImportError):
    """The installed aiohttp lacks an internal this module relies on, or is outside the tested range."""


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _names(cls: type) -> set[str]:
    """Every attribute name *cls* and its bases define or assign in their methods."""
    found: set[str] = set()
    for klass in cls.__mro__:
        found.update(vars(klass))
        found.update(getattr(klass, "__slots__", ()))
        for value in vars(klass).values():
            code = getattr(getattr(value, "fget", value), "__code__", None)
            if code is not None:
                found.update(code.co_names)
    return found


# (class, attribute, what for): every private attribute read or written below
REQUIRED: tuple[tuple[type, str, str], ...] = (
    (web_protocol.RequestHandler, "handle_error", "answering parser errors with 414/431/501/505"),
    (web_protocol.RequestHandler, "_manager", "counting open connections (--max-connections)"),
    (web_protocol.RequestHandler, "_request_count", "telling when a request head is complete"),
    (web_protocol.RequestHandler, "_request_in_progress", "telling a head being read from a body"),
    (web_protocol.RequestHandler, "_messages", "telling a head being read from a queued request"),
    (web_protocol.RequestHandler, "_loop", "timing the request headers (--header-timeout)"),
    (web_server.Server, "_connections", "counting open connections without copying the list"),
    (web_server.Server, "_loop", "building the faithful handler"),
    (web_server.Server, "_kwargs", "building the faithful handler with the server's settings"),
    (web_request.BaseRequest, "_cache", "answering a refusal with an HTTP/1.1 status line"),
    (web.StreamResponse, "_state", "a made response (http1.Sent) skips StreamResponse.__init__"),
    (web.StreamResponse, "_headers", "a made response has no header object"),
    (web.StreamResponse, "_status", "a made response's status"),
    (web.StreamResponse, "_reason", "a made response's reason phrase"),
    (web.StreamResponse, "_keep_alive", "whether the connection stays open after a made response"),
    (web.StreamResponse, "_eof_sent", "a made response, once written, is finished for aiohttp"),
)


def check(version: str = aiohttp.__version__) -> None:
    """Raise AiohttpMismatch naming the version or the first missing attribute."""
    low, high = TESTED
    if not _version(low) <= _version(version) < _version(high):
        raise AiohttpMismatch(f"mockserver's wire layer was tested with aiohttp>={low},<{high}; "
                              f"aiohttp {version} is installed: install a version in that range")
    known: dict[type, set[str]] = {}
    for cls, name, why in REQUIRED:
        if name not in known.setdefault(cls, _names(cls)):
            raise AiohttpMismatch(f"aiohttp {version} has no {cls.__name__}.{name}, which mockserver "
                                  f"uses for {why}; install aiohttp>={low},<{high}")
    if not inspect.isclass(getattr(web_protocol, "_ErrInfo", None)):
        raise AiohttpMismatch(f"aiohttp {version} has no web_protocol._ErrInfo, which mockserver uses "
                              f"for telling a refused head; install aiohttp>={low},<{high}")
    if not callable(rfc822_formatted_time):
        raise AiohttpMismatch(f"aiohttp {version} has no helpers.rfc822_formatted_time")


check()


# --- the connection handler's view of aiohttp's state ---------------------------------------------

def open_connections(handler: web_protocol.RequestHandler) -> int:
    """How many connections the handler's server holds, this one included (``Server.connections``
    copies the list on every accept; its private list does not)."""
    manager = handler._manager
    return 0 if manager is None else len(manager._connections)


def requests_begun(handler: web_protocol.RequestHandler) -> int:
    """Request heads the parser completed (or refused) on this connection: a change means a head ended."""
    return handler._request_count


def head_refused(handler: web_protocol.RequestHandler) -> bool:
    """The parser refused a head that is not answered yet: what arrives after it is never read
    (the refusal closes the connection), and must not be parsed as another head meanwhile."""
    messages = handler._messages  # empty between requests: the common case costs one test
    return bool(messages) and any(isinstance(message, web_protocol._ErrInfo) for message, _ in messages)


#: aiohttp's pure-Python parser (AIOHTTP_NO_EXTENSIONS, or no C extension) upper-cases the method;
#: llhttp keeps it as sent (and refuses what is not a method), so only the former needs the head read
PARSER_UPPERCASES_METHODS: bool = HttpRequestParser is http_parser.HttpRequestParserPy


def between_requests(handler: web_protocol.RequestHandler) -> bool:
    """No request is being handled or queued: the bytes arriving belong to a request head."""
    return not handler._request_in_progress and not handler._messages


def handler_loop(handler: web_protocol.RequestHandler) -> asyncio.AbstractEventLoop:
    """The loop the connection runs on (for the header timer)."""
    return handler._loop


def server_loop(server: web_server.Server) -> asyncio.AbstractEventLoop:
    """The loop the low-level server was made on, which its handlers need."""
    return server._loop


def server_settings(server: web_server.Server) -> dict[str, Any]:
    """The keyword arguments the server hands each connection handler (max_line_size, ...)."""
    return server._kwargs


# --- requests and responses -----------------------------------------------------------------------

def answer_as_http11(request: web.BaseRequest) -> None:
    """Make the answer's status line HTTP/1.1 whatever the request said: aiohttp echoes the request's
    version, and a refusal of HTTP/2.0 or of an unparsable line must not echo it (RFC 9110 15.6.6)."""
    request._cache["version"] = HttpVersion11


def made_response(response: web.StreamResponse, status: int, reason: str, keep_alive: bool) -> None:
    """Set up *response* without StreamResponse.__init__ (whose header multidict would never be read),
    for a response whose bytes are already made."""
    response._state = {}
    response._headers = _NO_HEADERS
    response._status, response._reason = status, reason
    response._keep_alive = keep_alive


def mark_sent(response: web.StreamResponse) -> None:
    """The made bytes are written: aiohttp's later prepare() and write_eof() find nothing to do."""
    response._eof_sent = True


def sent(response: web.StreamResponse) -> bool:
    """Whether mark_sent was called."""
    return response._eof_sent
