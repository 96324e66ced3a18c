"""Forwarding to a real upstream: a proxy rule's answer, or every unmatched request's.

One ``Forwarder`` per server holds one aiohttp ClientSession (a bounded connection pool, closed
when the server stops). Forwarding is meant to be faithful (RFC 9110 7.6): method, path, raw query
and body go up as they came; hop-by-hop headers (and those the Connection header names) are
dropped both ways; the upstream's status line, reason phrase, headers and body come back as
they were, with no decompression and no redirect following. ``Host`` is the upstream's (as a
reverse proxy sends it); the client's Host goes in ``X-Forwarded-Host``, with ``X-Forwarded-For``,
``X-Forwarded-Proto`` and ``Via`` added.

Chaos happens around this: the engine has already decided delays, rate limits and faults. With no
fault, the upstream's body is streamed to the client as it arrives. A fault that acts on the body
(truncate, drip, ...) needs it whole, so then the body is read first and handed to the fault.

An upstream that refuses, times out, resets or fails TLS gives 502 (504 for a timeout) with the
catalogue's body, journaled as outcome ``upstream_failed`` with the failure kind in ``fault``
(``upstream_refused``, ``upstream_timeout``, ``upstream_reset``, ``upstream_tls``, ...).

Observers: ``MockServer(on_proxied=callback)`` or ``server.add_proxy_observer(callback)``
registers a callable that gets one ``record.capture.Captured`` per forwarded exchange (the request
as sent upstream, the answer as received, body bytes as on the wire, latency and failure kind).
It is called on the server's loop after the exchange ends; an observer that raises is logged and
ignored. With no observer, no body is kept.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from .. import catalogue
from ..faults import Fault
from ..record.capture import Captured
from ..rules import Proxy
from .exchange import apply_fault

__all__ = ["HOP_BY_HOP", "FaultPlan", "Forwarder", "ProxyObserver", "Upstream", "end_to_end", "forward"]

log = logging.getLogger("mockserver.proxy")

ProxyObserver = Callable[[Captured], None]

# RFC 9110 7.6.1 (and the RFC 2616 list proxies still honour): never forwarded
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "proxy-authenticate", "proxy-authorization"})
# set again by the client library for the body it sends, or by us for the body we send back
_FRAMING = frozenset({"content-length", "host", "expect"})
VIA = "1.1 mockserver"


def _hop_by_hop(headers: Sequence[tuple[str, str]]) -> frozenset[str]:
    """The fixed hop-by-hop names plus every name the Connection header lists."""
    named = {token.strip().lower() for name, value in headers if name.lower() == "connection"
             for token in value.split(",") if token.strip()}
    return HOP_BY_HOP | named


def end_to_end(headers: Sequence[tuple[str, str]],
               drop: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """*headers* without hop-by-hop ones (and without *drop*), in order, repeats kept."""
    gone = _hop_by_hop(headers) | drop
    return [(name, value) for name, value in headers if name.lower() not in gone]


@dataclass(slots=True)
class Upstream:
    """What came back from the upstream: its status line and headers, and the open response
    (its body not read yet), or the failure that stood for an answer."""

    status: int
    reason: str
    headers: list[tuple[str, str]]  # end to end, as received (Content-Length kept if given)
    raw_headers: tuple[tuple[str, str], ...]
    response: aiohttp.ClientResponse | None
    failure: str | None = None  # refused | timeout | reset | tls | unreachable | error
    detail: str = ""
    body: bytes = b""  # a gateway error's own body (the catalogue's)


def _failure(exc: BaseException) -> tuple[str, str]:
    """The kind of an upstream failure, and a line that says what happened."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError | ssl.SSLError):
        return "tls", f"the TLS handshake failed: {exc}"
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError and asyncio's are both this
        return "timeout", "no answer in time"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "refused", "the connection was refused"
        return "unreachable", f"could not connect: {exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError | aiohttp.ClientOSError):
        return "reset", "the upstream closed or reset the connection before answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "truncated", f"the answer's body was cut short: {exc}"
    return "error", f"{type(exc).__name__}: {exc}"


class Forwarder:
    """The server's client side: one session, a bounded pool, an SSL context per CA bundle."""

    def __init__(self, *, timeout: float = 30.0, ca: str | None = None, pool: int = 100,
                 observers: list[ProxyObserver] | None = None) -> None:
        self.timeout = timeout
        self.ca = ca
        self.pool = pool
        self.observers: list[ProxyObserver] = observers if observers is not None else []
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[str | None, ssl.SSLContext] = {}
        self.forwarded = 0

    def _ssl(self, ca: str | None) -> ssl.SSLContext:
        ca = ca or self.ca
        context = self._contexts.get(ca)
        if context is None:  # None: the system's trust store
            context = self._contexts[ca] = ssl.create_default_context(cafile=ca)
        return context

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.pool, limit_per_host=self.pool),
                auto_decompress=False,  # Content-Encoding goes through as it is
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def request_headers(self, request: web.BaseRequest) -> list[tuple[str, str]]:
        """The client's headers as they go upstream: end to end only, X-Forwarded-* and Via added."""
        headers = end_to_end(list(request.headers.items()), _FRAMING)
        client = request.remote or ""
        forwarded_for = ", ".join([*(v for n, v in headers if n.lower() == "x-forwarded-for"), client])
        headers = [h for h in headers if h[0].lower() not in {"x-forwarded-for", "via"}]
        via = ", ".join([*(v for n, v in request.headers.items() if n.lower() == "via"), VIA])
        headers += [("X-Forwarded-For", forwarded_for), ("X-Forwarded-Proto", request.scheme),
                    ("X-Forwarded-Host", request.host), ("Via", via)]
        return headers

    async def send(self, request: web.BaseRequest, body: bytes,
                   target: Proxy) -> tuple[Upstream, list[tuple[str, str]], str]:
        """Forward one request: the upstream's answer (body unread), the headers sent, the URL."""
        if not target.url:
            failed = self.failed("unconfigured", "no upstream is configured for this proxy rule "
                                 "(give it a url, or start with --proxy-unmatched URL)", target)
            return failed, [], ""
        query = request.raw_path.partition("?")[2]
        path = target.target(request.raw_path.partition("?")[0])
        url_text = target.url + path + (f"?{query}" if query else "")
        headers = self.request_headers(request)
        timeout = target.timeout if target.timeout is not None else self.timeout
        try:
            url = URL(url_text, encoded=True)
            response = await self.session().request(
                request.method, url, headers=CIMultiDict(headers),
                data=body if body or request.body_exists else None, allow_redirects=False,
                ssl=self._ssl(target.ca) if url.scheme == "https" else True,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout))
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            kind, detail = _failure(exc)
            return self.failed(kind, detail, target), headers, url_text
        raw = tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in response.raw_headers)
        answer = Upstream(response.status, response.reason or "", end_to_end(raw), raw, response)
        return answer, headers, url_text

    @staticmethod
    def failed(kind: str, detail: str, target: Proxy) -> Upstream:
        """The gateway answer a real proxy gives: 504 for a timeout, 502 for anything else."""
        status = 504 if kind == "timeout" else 502
        message = f"The upstream {target.url or '(none)'} did not answer: {detail}."
        body = catalogue.error_body(status, message)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        return Upstream(status, catalogue.reason_phrase(status), headers, (), None, kind, detail, body)

    def observe(self, captured: Captured) -> None:
        for observer in self.observers:
            try:
                observer(captured)
            except Exception:
                log.exception("proxy observer %r failed", observer)


# called with the status, reason and headers about to go out (the server journals there)
OnHead = Callable[[int, str, list[tuple[str, str]], Upstream], None]


@dataclass(slots=True)
class FaultPlan:
    """A fault to carry out on the upstream's answer, and what it draws its bytes from."""

    fault: Fault
    seed: int
    key: str
    ordinal: int
    max_hang: float
    time_scale: float


def _answer_headers(upstream: Upstream, extra_headers: Sequence[tuple[str, str]],
                    request_id: str) -> list[tuple[str, str]]:
    headers = list(upstream.headers)
    if extra_headers:  # header control and chaos headers (Retry-After) win over the upstream's
        replaced = {name.lower() for name, _ in extra_headers}
        headers = [h for h in headers if h[0].lower() not in replaced] + list(extra_headers)
    if not any(name.lower() == "x-request-id" for name, _ in headers):
        headers.append(("X-Request-Id", request_id))
    return headers


async def forward(forwarder: Forwarder, request: web.BaseRequest, body: bytes, target: Proxy, *,
                  fault: FaultPlan | None, extra_headers: Sequence[tuple[str, str]], request_id: str,
                  on_head: OnHead,
                  ) -> web.StreamResponse:
    """Forward, then send the upstream's answer (or the gateway error) through *fault*, if any.

    *on_head* is called with the status, reason and headers about to go out, before the first
    byte does (the server journals there)."""
    started_wall, started = time.time(), time.perf_counter()
    upstream, sent_headers, url_text = await forwarder.send(request, body, target)
    forwarder.forwarded += 1
    headers = _answer_headers(upstream, extra_headers, request_id)
    chunks: list[bytes] | None = [] if forwarder.observers else None
    try:
        if upstream.response is None or fault is not None:
            response = await _buffered(request, upstream, headers, fault, chunks, on_head)
        elif _small(request, upstream):
            response = await _whole(request, upstream, headers, chunks, on_head)
        else:
            response = await _streamed(request, upstream, headers, chunks, on_head)
    finally:
        if upstream.response is not None:
            upstream.response.release()
        if chunks is not None:
            answered = upstream.response is not None
            url = URL(url_text, encoded=True)
            forwarder.observe(Captured(
                method=request.method, path=url.raw_path, query=tuple(url.query.items()),
                request_headers=tuple(sent_headers), request_body=body,
                status=upstream.status if answered else None, reason=upstream.reason if answered else "",
                response_headers=upstream.raw_headers, response_body=b"".join(chunks),
                latency=time.perf_counter() - started, started=started_wall, failure=upstream.failure,
                upstream=target.url))
    return response


async def _buffered(request: web.BaseRequest, upstream: Upstream, headers: list[tuple[str, str]],
                    fault: FaultPlan | None, chunks: list[bytes] | None,
                    on_head: OnHead) -> web.StreamResponse:
    """A gateway error, or an answer a fault acts on: the whole body first, then one writer."""
    status, reason, payload = upstream.status, upstream.reason, upstream.body
    if upstream.response is not None:
        try:
            payload = await upstream.response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            upstream.failure, upstream.detail = _failure(exc)  # journaled; the fault acts on nothing
            payload = b""
        headers = [h for h in headers if h[0].lower() != "content-length"]
        if chunks is not None:  # a gateway error's body is ours, not something received
            chunks.append(payload)
    on_head(status, reason, headers, upstream)
    if fault is None:
        response = web.Response(status=status, reason=reason, headers=headers, body=payload or None)
        await response.prepare(request)
        await response.write_eof()
        return response
    applied = await apply_fault(fault.fault, request, status, reason, headers, payload, seed=fault.seed,
                                key=fault.key, ordinal=fault.ordinal, max_hang=fault.max_hang,
                                time_scale=fault.time_scale)
    return applied if applied is not None else web.Response(status=status, reason=reason)


# an answer whose small body has already arrived whole with its head is written in one send (head
# and body together): streaming it cost three writes, the most of what forwarding cost (py-spy,
# case 9). A body still arriving (a drip, a stream) is streamed as before.
SMALL_BODY = 64 * 1024


def _small(request: web.BaseRequest, upstream: Upstream) -> bool:
    """Whether the upstream's answer has a body of a declared, small length that is all here
    already (so no HEAD, 1xx, 204 or 304, whose Content-Length describes a body not sent)."""
    response = upstream.response
    length = None if response is None else response.content_length
    return (response is not None and length is not None and length <= SMALL_BODY
            and response.content.is_eof() and request.method != "HEAD"
            and upstream.status >= 200 and upstream.status not in (204, 304))


async def _whole(request: web.BaseRequest, upstream: Upstream, headers: list[tuple[str, str]],
                 chunks: list[bytes] | None, on_head: OnHead) -> web.StreamResponse:
    """A small answer: read whole, then head and body in one write. A body cut short cuts the
    client's connection, as streaming it would have."""
    assert upstream.response is not None
    on_head(upstream.status, upstream.reason, headers, upstream)
    try:
        payload = await upstream.response.read()
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        upstream.failure, upstream.detail = _failure(exc)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=upstream.status, reason=upstream.reason)
    if chunks is not None:
        chunks.append(payload)
    response = web.Response(status=upstream.status, reason=upstream.reason,
                            headers=[h for h in headers if h[0].lower() != "content-length"],
                            body=payload or None)
    await response.prepare(request)
    await response.write_eof()
    return response


async def _streamed(request: web.BaseRequest, upstream: Upstream, headers: list[tuple[str, str]],
                    chunks: list[bytes] | None,
                    on_head: OnHead) -> web.StreamResponse:
    """The upstream's body, written to the client piece by piece as it arrives."""
    assert upstream.response is not None
    on_head(upstream.status, upstream.reason, headers, upstream)
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                  headers=CIMultiDict(headers))
    await response.prepare(request)
    try:
        async for piece in upstream.response.content.iter_any():
            if chunks is not None:
                chunks.append(piece)
            await response.write(piece)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        # the head is out: all a proxy can do is cut the client's connection too
        upstream.failure, upstream.detail = _failure(exc)
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
