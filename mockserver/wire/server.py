"""The aiohttp side: a catch-all handler that carries out resolutions, and MockServer.

MockServer has two lifecycles on one class: ``with`` runs the server on its own loop in a
daemon thread (sync tests: requests, the Huawei SDK), ``async with`` runs it on the caller's
loop (async tests). Delays are asyncio sleeps, so thousands of delayed answers cost no threads.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import os
import re
import secrets
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from email.utils import formatdate
from types import TracebackType
from typing import Any

from aiohttp import hdrs, http_exceptions, web
from aiohttp.http import HttpVersion11

from .. import catalogue
from ..clock import Clock
from ..conditional import conditional_answer, etag_of
from ..engine import Engine, Resolution
from ..faults import Fault
from ..journal import Entry, Journal, WireHeaders
from ..request import RequestSnapshot
from ..responses import Plan
from ..scenario import (
    Rule,
    RuntimeFault,
    Scenario,
    WebSocketStep,
    load_paths,
    load_runtime_fault,
    load_scenario,
)
from ..state import StateStore
from ..templating import Context
from .connection import FaithfulHandler, error_response, faithful_runner
from .effects import send_raw, wait_closed
from .exchange import apply_fault
from .http1 import Sent, encode
from .tls_faults import (
    HANDSHAKE_FAULTS,
    Authority,
    FaultListener,
    TlsFaultError,
    TlsFaults,
    check_name,
    negotiation_context,
)

__all__ = ["MockServer", "ScenarioSource"]

ScenarioSource = str | os.PathLike[str] | Mapping[str, Any] | Scenario
log = logging.getLogger("mockserver")
EXPECT = hdrs.EXPECT
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def _mark_fault(entry: Entry, fault: Fault | None) -> None:
    """Journal a fault as the client meets it: its name, and no status unless one was sent."""
    entry.fault = None if fault is None else fault.type
    if fault is None:
        return
    entry.outcome = "fault"
    if not fault.sends_status:
        entry.status, entry.reason, entry.response_headers = None, "", ()


def _conditional(headers: Mapping[str, str]) -> bool:
    """Whether the request asks anything of the validators (RFC 9110 13.1, and Range); unrolled,
    because this runs for every 2xx answer."""
    return ("If-None-Match" in headers or "If-Modified-Since" in headers or "Range" in headers
            or "If-Match" in headers or "If-Unmodified-Since" in headers)


# RFC 9110 5.5: a field value has no CTL but HTAB; CR, LF and NUL "MUST" become SP
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _clean(headers: list[tuple[str, str]], decisions: list[str]) -> None:
    """Replace control characters in header values made at request time (templates echo the
    request: ``?v=%0D%0A`` must not split the response) by spaces, and say so in the journal."""
    for index, (name, value) in enumerate(headers):
        if _CONTROL.search(value):
            headers[index] = (name, _CONTROL.sub(" ", value))
            decisions.append(f"header_sanitized: {name}: control characters replaced by spaces "
                             "(RFC 9110 5.5)")


def _method_as_sent(request: web.BaseRequest, method: str) -> str:
    """The method as the client wrote it: aiohttp's pure-Python parser upper-cases it, and
    methods are case-sensitive (RFC 9110 9.1), so ``get`` is an unknown method (501)."""
    protocol = request.protocol
    sent = protocol.method_as_sent() if isinstance(protocol, FaithfulHandler) else b""
    return sent.decode("latin-1") if sent.upper() == method.encode() else method


def _load(sources: ScenarioSource | Iterable[ScenarioSource] | None) -> list[Scenario]:
    if sources is None:
        return []
    if isinstance(sources, str | os.PathLike | Mapping | Scenario):
        sources = [sources]
    out: list[Scenario] = []
    paths: list[str | os.PathLike[str]] = []
    for source in sources:
        if isinstance(source, str | os.PathLike):
            paths.append(source)
        else:
            out.append(load_scenario(source))
    return load_paths(paths) + out if paths else out


class MockServer:
    """An HTTP server that answers from scenarios.

    ``MockServer(["scenarios/css"], port=0)`` picks a free port; ``url`` tells which. Reads
    of the journal and state are thread-safe, so a sync test can inspect a threaded server.
    """

    __test__ = False

    def __init__(
        self,
        scenarios: ScenarioSource | Iterable[ScenarioSource] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        journal_size: int = 10_000,
        max_delay: float = 600.0,
        shutdown_timeout: float = 2.0,
        max_body_size: int = 16 * 1024 * 1024,
        max_uri: int = 8190,
        max_header: int = 8190,
        max_headers: int = 100,
        body_timeout: float = 30.0,
        header_timeout: float = 30.0,
        keepalive_timeout: float = 75.0,
        max_connections: int = 20_000,
        journal_body_limit: int = 64 * 1024,
        time_scale: float = 1.0,
        admin_token: str | None = None,
        public_health: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        header_control: bool = False,
        tls_fault: str | None = None,
        tls: Authority | None = None,
    ) -> None:
        from ..control.metrics import Metrics

        self.host = host
        self.port = port
        self.store = StateStore()
        self.journal = Journal(journal_size)
        self._last_headers = WireHeaders(())  # the last request's, shared by entries that repeat them
        self.max_delay = max_delay
        self.shutdown_timeout = shutdown_timeout
        self.max_body_size = max_body_size
        self.max_uri = max_uri  # request targets longer than this get 414
        self.max_header = max_header  # header lines longer than this get 431
        self.max_headers = max_headers  # more header fields than this get 431
        self.body_timeout = body_timeout  # a body that stalls this long gets 408
        self.header_timeout = header_timeout  # headers that stall this long (timed from the open), too
        self.keepalive_timeout = keepalive_timeout  # an idle connection between requests is closed after this
        self.max_connections = max_connections  # open connections beyond this get 503 and a close
        self.journal_body_limit = journal_body_limit  # bytes of each request body the journal keeps
        self.started_at = time.time()
        self.time_scale = time_scale  # fast mode: every sleep is multiplied by this
        self.clock = Clock()
        self.in_flight = 0
        # called with each finished exchange (metrics, JSON logs); errors in hooks are logged only
        self.exchange_hooks: list[Callable[[Entry], None]] = []
        # the control API (/__mock/...): with a token, every control request must carry it as
        # "Authorization: Bearer <token>"; public_health leaves /__mock/health open
        self.admin_token = admin_token or None
        self.public_health = public_health
        self.ssl_context = ssl_context  # serve HTTPS (tls.py makes one)
        # a TLS fault for every handshake on this listener (tls_faults.py), and the generated CA
        # that fault certificates (and the scenarios' per-host ones) are made from
        self.tls_fault = None if tls_fault is None else check_name(tls_fault)
        self.tls_authority = tls
        self._fault_listener: FaultListener | None = None
        self.reload_error: str | None = None  # set by the file watcher (reload.py), shown in health
        self.metrics = Metrics()
        self.exchange_hooks.append(self.metrics.observe)
        self.header_control = header_control
        self._runtime_faults: list[RuntimeFault] = []
        self._fault_names = itertools.count(1)
        self.engine = self._build(_load(scenarios), seed)
        self._runner: web.BaseRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(4)

    # --- scenarios -------------------------------------------------------------------------------

    @property
    def scenarios(self) -> tuple[Scenario, ...]:
        return self.engine.scenarios

    def load(self, *sources: ScenarioSource) -> list[Scenario]:
        """Add scenarios (a scenario with the same name is replaced). Atomic: all or nothing."""
        new = _load(list(sources))
        names = {s.name for s in new}
        kept = [s for s in self.engine.scenarios if s.name not in names]
        self._swap(kept + new)
        return new

    def replace(self, *sources: ScenarioSource) -> list[Scenario]:
        """Serve exactly these scenarios from now on."""
        new = _load(list(sources))
        self._swap(new)
        return new

    def remove(self, name: str) -> bool:
        kept = [s for s in self.engine.scenarios if s.name != name]
        if len(kept) == len(self.engine.scenarios):
            return False
        self._swap(kept)
        return True

    def _build(self, scenarios: Iterable[Scenario], seed: int | None) -> Engine:
        return Engine(scenarios, self.store, seed=seed, clock=self._scaled_clock,
                      runtime_faults=tuple(self._runtime_faults), header_control=self.header_control)

    def _scaled_clock(self) -> float:
        # fast mode: timelines and token buckets run 1/time_scale times faster than real time
        return self.clock.now() / self.time_scale if self.time_scale > 0 else self.clock.now()

    def _swap(self, scenarios: list[Scenario]) -> None:
        # one reference assignment: a request sees the old engine or the new, never a mix
        self.engine = self._build(scenarios, self.engine.seed)

    @property
    def seed(self) -> int | None:
        return self.engine.seed

    @seed.setter
    def seed(self, value: int | None) -> None:
        self.engine = self._build(self.engine.scenarios, value)

    def set_seed(self, seed: int | None) -> None:
        """The Controls spelling of ``seed = x`` (the same as RemoteMockServer.set_seed)."""
        self.seed = seed

    def states(self, session: str = "") -> dict[str, str]:
        return self.store.states(session)

    def set_state(self, name: str, value: str, session: str = "") -> None:
        self.store.set_state(name, value, session)

    def advance(self, seconds: float) -> None:
        """Move the clock on (timelines, rate limits) without waiting."""
        self.clock.advance(seconds)

    def clear_journal(self) -> None:
        self.journal.clear()

    # --- runtime faults (the control API's /__mock/faults) -----------------------------------------

    def add_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Add a fault for every request its ``match`` matches; a same-named one is replaced.

        *spec* is ``{"name"?, "match"?, "respond" | "fault" | "delay", "probability"?}``; a bad
        spec raises ScenarioError and changes nothing. Returns the spec as stored, with its name.
        """
        fault = load_runtime_fault(spec, lambda: f"fault-{next(self._fault_names)}")
        self._runtime_faults = [f for f in self._runtime_faults if f.name != fault.name] + [fault]
        self.engine = self._build(self.engine.scenarios, self.engine.seed)
        return {"name": fault.name, **fault.spec}

    def remove_fault(self, name: str) -> bool:
        kept = [f for f in self._runtime_faults if f.name != name]
        if len(kept) == len(self._runtime_faults):
            return False
        self._runtime_faults = kept
        self.engine = self._build(self.engine.scenarios, self.engine.seed)
        return True

    def list_faults(self) -> list[dict[str, Any]]:
        return [{"name": f.name, **f.spec} for f in self._runtime_faults]

    def clear_faults(self) -> None:
        if self._runtime_faults:
            self._runtime_faults = []
            self.engine = self._build(self.engine.scenarios, self.engine.seed)

    def reset(self, session: str | None = None) -> None:
        """Forget counters, states, the journal, the clock and runtime faults (or only one
        session's counters and states)."""
        self.store.reset(session)
        if session is None:
            self.journal.clear()
            self.clock.reset()
            self.clear_faults()

    # --- addresses -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    # --- serving ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving on the running loop."""
        from ..control.api import PREFIX, ControlApi

        # aiohttp's low-level server: one handler takes every request, with no Application and
        # no router on the way (the control API is dispatched by prefix in _handle), which is
        # most of what a mock adds per request over a bare aiohttp app (docs/performance.md)
        self._control = ControlApi(self)
        self._control_prefix = PREFIX
        if self.tls_fault in HANDSHAKE_FAULTS:  # no TLS, so no HTTP: the listener only does the fault
            self._fault_listener = FaultListener(self.tls_fault, self._record_tls, self._negotiation())
            self.port = await self._fault_listener.start(self.host, self.port)
            return
        runner = faithful_runner(
            self._handle, max_body_size=self.max_body_size, access_log=None,
            shutdown_timeout=self.shutdown_timeout, header_timeout=self.header_timeout,
            max_connections=self.max_connections, keepalive_timeout=self.keepalive_timeout,
            # the parser's own limits sit just above ours, so the handler can answer 414 itself
            max_line_size=self.max_uri + 64, max_field_size=self.max_header, max_headers=self.max_headers)
        await runner.setup()
        context = self.ssl_context
        if context is not None and (self.tls_fault is not None or self.tls_authority is not None):
            context = TlsFaults(self.tls_authority, self.tls_fault, self._tls_hosts,
                                self._record_tls).install(context)
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, ssl_context=context)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])

    def _negotiation(self) -> ssl.SSLContext | None:
        """The context that refuses modern clients, for the old_protocol and weak_cipher faults."""
        if self.tls_fault not in ("old_protocol", "weak_cipher"):
            return None
        if self.tls_authority is None:
            raise TlsFaultError(f"TLS fault {self.tls_fault!r} serves the generated certificate: "
                                "give MockServer(tls=...) (the CLI's --tls)")
        folder = self.tls_authority.folder
        return negotiation_context(self.tls_fault, folder / "server.pem", folder / "server-key.pem")

    def _tls_hosts(self) -> dict[str, str]:
        """SNI host name -> certificate fault, from the loaded scenarios (read per handshake)."""
        return {host: fault for s in self.scenarios for host, fault in s.tls_hosts}

    def _record_tls(self, client: str, sni: str | None, fault: str, outcome: str) -> None:
        """Journal a TLS fault: a connection-level entry, with no request (none was read)."""
        self.journal.record(Entry(
            seq=0, request_id=self._next_request_id(), method="", path="", query_string="",
            headers=WireHeaders(()), body=b"", client=client, session="", rule=None, status=None,
            reason="", outcome="tls_fault", arrived=time.time(),
            fault=fault, decisions=(f"tls {fault}: {outcome}",), layer="tls", sni=sni))

    async def close(self) -> None:
        """Stop accepting, let in-flight answers end within shutdown_timeout, then close."""
        listener, self._fault_listener = self._fault_listener, None
        if listener is not None:
            await listener.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            self._control.dashboard.close()  # open dashboard pages' streams end at once
            await runner.cleanup()

    async def __aenter__(self) -> MockServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def __enter__(self) -> MockServer:
        self.start_in_thread()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_thread()

    def start_in_thread(self, timeout: float = 10.0) -> None:
        """Run the server on its own event loop in a daemon thread; returns once it listens."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the starting thread below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.close())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"mockserver:{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"mockserver did not start within {timeout}s")
        if failure:
            self._thread.join()
            self._loop = self._thread = None
            raise failure[0]

    def stop_thread(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    # --- the handler -----------------------------------------------------------------------------

    def _next_request_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):012x}"

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if EXPECT in request.headers:  # what aiohttp's Application would do, before the handler
            answered = await self._expect(request)
            if answered is not None:
                return answered
        path, prefix = request.path, self._control_prefix
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            return await self._control.dispatch(request)
        self.in_flight += 1
        try:
            return await self._exchange(request)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception as exc:
            # a bug of ours must not look like the client's fault: journal it (strict mode in
            # the pytest plugin fails the test on it) and answer 500 with what went wrong
            log.exception("mockserver failed on %s %s", request.method, request.path_qs)
            entry = Entry(
                seq=0, request_id="", method=request.method, path=request.path,
                query_string=request.query_string, headers=request.headers, body=b"",
                client=request.remote or "", session="", rule=None, status=500,
                reason="InternalServerError", outcome="error", arrived=time.time(),
                decisions=[f"{type(exc).__name__}: {exc}"])
            self.journal.record(entry)
            return web.json_response(
                {"error_code": "MOCK.0500", "error_msg": f"mockserver failed: {type(exc).__name__}: {exc}"},
                status=500, reason="InternalServerError")
        finally:
            self.in_flight -= 1

    async def _exchange(self, request: web.BaseRequest) -> web.StreamResponse:
        arrived = time.time()
        refusal = self._refuse_early(request)
        engine = self.engine
        if refusal is None and engine.checks_bodies and request.can_read_body:
            refusal = self._refuse_body(request, self._peek(request, engine))
        if refusal is not None:
            return await self._refused(request, refusal, arrived)
        try:
            body = await asyncio.wait_for(request.read(), self.body_timeout) if request.can_read_body else b""
        except TimeoutError:
            return await self._refused(
                request, error_response(408, "The request body did not arrive in time."), arrived)
        except (ConnectionError, http_exceptions.PayloadEncodingError):
            transport = request.transport
            if transport is not None and not transport.is_closing():
                raise  # the connection is alive: not a client that left
            return self._client_left(request, arrived)
        version = request.version
        snapshot = RequestSnapshot.trusted(
            request.method, request.path, request.query, request.headers, body, request.raw_path,
            request.remote or "", "1.1" if version == HttpVersion11 else f"{version.major}.{version.minor}")
        request_id = self._next_request_id()
        resolution = engine.resolve(snapshot, request_id)
        try:
            if resolution.rule is not None and resolution.rule.websocket is not None \
                    and request.headers.get("Upgrade", "").lower() == "websocket":
                return await self._websocket(request, snapshot, resolution, request_id, arrived)
            return await self._answer(request, snapshot, resolution, request_id, arrived, engine)
        finally:
            if resolution.release is not None:  # a concurrency-cap slot
                resolution.release()

    def _client_left(self, request: web.BaseRequest, arrived: float) -> web.StreamResponse:
        """The client sent the headers and part of the body, then went away: journaled as such,
        with no status (none was sent) and no rule (none was chosen). Nothing to answer."""
        entry = Entry(
            seq=0, request_id=self._next_request_id(), method=request.method, path=request.path,
            query_string=request.query_string, headers=request.headers, body=b"",
            client=request.remote or "", session=request.headers.get(self.engine.session_header, ""),
            rule=None, status=None, reason="", outcome="client_gone", arrived=arrived, ended=time.time())
        self.journal.record(entry)
        self._after(entry)
        return web.Response(status=400)  # never written: the transport is closed

    def _refuse_early(self, request: web.BaseRequest) -> web.Response | None:
        """Protocol-level refusals that need no rule: 505, 501, 414, 413, 417 (RFC 9110/9112)."""
        version = request.version
        if version.major != 1:
            request._cache["version"] = HttpVersion11  # the status line echoes it otherwise
            return error_response(505, "Only HTTP/1.0 and HTTP/1.1 are served here.")
        method = request.method
        if method not in KNOWN_METHODS or (method := _method_as_sent(request, method)) not in KNOWN_METHODS:
            return error_response(501, f"The method {method!r} is not implemented here.")
        if len(request.raw_path) > self.max_uri:
            return error_response(414, f"The request target is longer than {self.max_uri} octets.")
        length = request.content_length
        if length is not None and length > self.max_body_size:
            return error_response(413, f"The request body is larger than {self.max_body_size} bytes.")
        return None

    @staticmethod
    def _peek(request: web.BaseRequest, engine: Engine) -> Rule | None:
        """The rule the request would most likely reach, judged before its body is read."""
        return engine.peek(RequestSnapshot(request.method, request.path, query=request.query,
                                           headers=request.headers, raw_path=request.raw_path,
                                           client=request.remote or ""))

    @staticmethod
    def _refuse_body(request: web.BaseRequest, rule: Rule | None) -> web.Response | None:
        """A rule's body limits (413, 411, 415), decided from the headers before the body is read."""
        if rule is None:
            return None
        length = request.content_length
        if rule.max_body is not None and length is not None and length > rule.max_body:
            extra = {}
            if rule.max_body_retry_after is not None:
                extra["Retry-After"] = str(max(0, math.ceil(rule.max_body_retry_after - 1e-9)))
            return error_response(413, f"The request body is larger than {rule.max_body} bytes.", extra)
        if rule.require_length and length is None:
            return error_response(411, "This resource needs a Content-Length.")
        if rule.content_types is not None:
            media = request.content_type.lower()
            if media not in rule.content_types:
                return error_response(415, f"The media type {media!r} is not accepted here.",
                                      {"Accept": ", ".join(rule.content_types)})
        return None

    async def _refused(self, request: web.BaseRequest, response: web.Response,
                       arrived: float) -> web.Response:
        """Send a refusal made before any rule was chosen (and before the body was read), journal
        it, and close: aiohttp would otherwise linger for seconds reading a body nobody wants."""
        self._journal_refusal(request, response, arrived)
        await response.prepare(request)
        await response.write_eof()
        if request.protocol is not None:
            request.protocol.force_close()
        return response

    def _journal_refusal(self, request: web.BaseRequest, response: web.Response, arrived: float) -> None:
        request_id = self._next_request_id()
        response.headers["X-Request-Id"] = request_id
        entry = Entry(
            seq=0, request_id=request_id, method=request.method,
            path=request.path, query_string=request.query_string, headers=request.headers, body=b"",
            client=request.remote or "", session=request.headers.get(self.engine.session_header, ""),
            rule=None, status=response.status, reason=response.reason, outcome="refused",
            arrived=arrived, ended=time.time(), response_headers=tuple(response.headers.items()))
        self.journal.record(entry)
        self._after(entry)

    async def _expect(self, request: web.BaseRequest) -> web.StreamResponse | None:
        """Expect: 100-continue. The interim 100 goes out before the body is read, unless a rule
        (or a limit) refuses the request first: then the refusal is the answer and the
        connection closes, so the client never sends the body."""
        if request.version != HttpVersion11:
            return None  # an HTTP/1.0 client's expectation MUST be ignored (RFC 9110 10.1.1)
        arrived = time.time()
        expectation = request.headers.get("Expect", "").lower()
        response: web.Response | None
        if expectation != "100-continue":
            response = error_response(417, f"The expectation {expectation!r} cannot be met; "
                                           "only 100-continue is supported.")
        else:
            rule = self._peek(request, self.engine)
            response = self._refuse_early(request) or self._refuse_body(request, rule)
            if response is None and rule is not None and rule.expect is not None:
                plan = rule.expect
                response = web.Response(status=plan.status, reason=plan.reason,
                                        headers=list(plan.headers), body=plan.body or None)
                response.force_close()
        if response is None:
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return None
        return await self._refused(request, response, arrived)

    async def _answer(self, request: web.BaseRequest, snapshot: RequestSnapshot, resolution: Resolution,
                      request_id: str, arrived: float, engine: Engine) -> web.StreamResponse:
        plan, fault = resolution.plan, resolution.fault
        outcome = "answered" if resolution.rule is not None else "unmatched"
        if resolution.rule is None and fault is None:
            plan, outcome = self._unmatched_plan(snapshot, plan, engine)
        delay = min(resolution.delay, self.max_delay)
        entry = self._entry(request, snapshot, resolution, request_id, plan.status, plan.reason, outcome,
                            arrived)
        _mark_fault(entry, fault)
        if delay > 0:
            # journaled on arrival (waiters count arrivals), completed when the answer goes out
            entry.outcome = "pending"
            self.journal.record(entry)
            # counted from arrival: the time spent reading and resolving is part of the delay
            elapsed = time.time() - arrived
            deadline = resolution.deadline
            if deadline is not None and delay > deadline:
                await asyncio.sleep(deadline * self.time_scale - elapsed)
                plan, fault, outcome = engine.timeout_plan, None, "timed_out"
            else:
                await asyncio.sleep(delay * self.time_scale - elapsed)
        status, reason, headers, payload = self._compose(snapshot, resolution, plan, fault, outcome,
                                                         request_id, engine)
        entry.status, entry.reason, entry.outcome = status, reason, outcome
        entry.response_headers = tuple(headers)
        _mark_fault(entry, fault)  # again: a deadline may have replaced the fault with a 504
        if delay <= 0:
            # recorded before the first byte goes out: a client that has its answer finds it journaled
            self.journal.record(entry)
        entry.first_byte = time.time()
        response: web.StreamResponse | None
        try:
            if fault is not None:
                response = await apply_fault(
                    fault, request, status, reason, headers, payload, seed=resolution.seed,
                    key=resolution.counter or "(unmatched)", ordinal=resolution.ordinal,
                    max_hang=self.max_delay, time_scale=self.time_scale)
                if response is None:  # the fault took the connection; aiohttp's write is a no-op
                    response = web.Response(status=status, reason=reason)
            elif plan.break_protocol:
                resolution.decisions.append("break_protocol: sent as written, then closed")
                await send_raw(request, status, reason, headers, payload)
                if status < 200:  # a bare 1xx: the client waits for a final answer that never comes
                    await wait_closed(request, self.max_delay)
                response = web.Response(status=status, reason=reason)
            elif (encoded := encode(request.version, status, reason, headers, payload, request.method,
                                    request.keep_alive)) is not None:
                sent = Sent(status, reason, *encoded)
                response = sent
                await sent.send(request)
            else:  # a declared Content-Length or Transfer-Encoding: aiohttp's writer frames it
                response = web.Response(status=status, reason=reason, headers=headers,
                                        body=payload or None)
                await response.prepare(request)
                await response.write_eof()
        except ConnectionResetError:
            entry.outcome = "client_gone"
            response = web.Response(status=status, reason=reason)
        entry.ended = time.time()
        entry.decisions = tuple(entry.decisions)
        self._after(entry)
        return response

    async def _websocket(self, request: web.BaseRequest, snapshot: RequestSnapshot, resolution: Resolution,
                         request_id: str, arrived: float) -> web.StreamResponse:
        """101 Switching Protocols and the rule's scripted exchange (aiohttp does the handshake)."""
        rule = resolution.rule
        assert rule is not None
        assert rule.websocket is not None
        ws = web.WebSocketResponse()
        ws.headers["X-Request-Id"] = request_id
        entry = self._entry(request, snapshot, resolution, request_id, 101, catalogue.reason_phrase(101),
                            "answered", arrived)
        self.journal.record(entry)
        await ws.prepare(request)
        entry.response_headers = tuple(ws.headers.items())
        entry.first_byte = time.time()
        try:
            for step in rule.websocket:
                if not await self._websocket_step(ws, step, entry):
                    break
            else:
                await ws.close()
        except (TimeoutError, ConnectionResetError):
            entry.outcome = "client_gone"
        entry.ended = time.time()
        self._after(entry)
        return ws

    async def _websocket_step(self, ws: web.WebSocketResponse, step: WebSocketStep, entry: Entry) -> bool:
        """One step of a scripted exchange; False once the socket is closed."""
        if step.send is not None:
            await ws.send_str(step.send)
        elif step.send_json is not None:
            await ws.send_json(step.send_json)
        elif step.receive:
            message = await ws.receive(timeout=self.max_delay)
            received = f"websocket received {message.type.name}: {message.data!r}"[:200]
            entry.decisions = (*entry.decisions, received)
        elif step.echo is not None:
            for _ in range(step.echo):
                message = await ws.receive(timeout=self.max_delay)
                if message.type.name not in {"TEXT", "BINARY"}:
                    break
                if message.type.name == "TEXT":
                    await ws.send_str(message.data)
                else:
                    await ws.send_bytes(message.data)
        elif step.delay is not None:
            await asyncio.sleep(step.delay * self.time_scale)
        elif step.close is not None:
            await ws.close(code=step.close)
            return False
        return True

    def _compose(
        self, snapshot: RequestSnapshot, resolution: Resolution, plan: Plan, fault: Fault | None,
        outcome: str, request_id: str, engine: Engine,
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Status, reason, headers and body to send: the plan rendered, chaos headers merged, and
        the request-time parts of the catalogue (Retry-After dates, Allow, ETag, 304/412/206/416)."""
        if plan.templated:
            headers, payload = plan.render(Context(snapshot, resolution.params, request_id))
        else:
            headers, payload = list(plan.headers), plan.body
        if resolution.extra_headers:
            replaced = {name.lower() for name, _ in resolution.extra_headers}
            headers = [h for h in headers if h[0].lower() not in replaced] + resolution.extra_headers
        if plan.templated or resolution.extra_headers:
            _clean(headers, resolution.decisions)
        if plan.retry_after_date is not None:
            headers.append(("Retry-After", formatdate(time.time() + plan.retry_after_date, usegmt=True)))
        headers.append(("X-Request-Id", request_id))
        status, reason = plan.status, plan.reason
        if status == 405 and not any(h[0].lower() == "allow" for h in headers):
            # RFC 9110 15.5.6: MUST list what the resource allows, computed from the rules
            headers.append(("Allow", ", ".join(sorted({*engine.allowed_methods(snapshot.path), "OPTIONS"}))))
        if 200 <= status < 300 and fault is None and not plan.break_protocol and outcome != "unmatched":
            request_headers = snapshot.headers
            if plan.validators and not _conditional(request_headers):
                headers.extend(plan.validators)  # the common case: a static 200, nothing to evaluate
                return status, reason, headers, payload
            (status, headers, payload), note = conditional_answer(
                snapshot.method, request_headers, status, headers, payload,
                plan.etag or etag_of(payload), plan.last_modified or self.started_at)
            if note is not None:
                resolution.decisions.append(note)
                reason = catalogue.reason_phrase(status)
                if status >= 400:
                    payload = catalogue.error_body(status, note)
                    headers = [h for h in headers if h[0].lower() != "content-type"]
                    headers.append(("Content-Type", "application/json"))
        return status, reason, headers, payload

    def _unmatched_plan(self, snapshot: RequestSnapshot, plan: Plan, engine: Engine) -> tuple[Plan, str]:
        """No rule matched. If rules serve the path with other methods, the faithful answer is
        204 with Allow to OPTIONS and 405 with Allow to anything else (RFC 9110 9.3.7, 15.5.6)."""
        allowed = engine.allowed_methods(snapshot.path)
        if not allowed:
            return plan, "unmatched"
        methods = sorted({*allowed, "OPTIONS"})
        allow = ("Allow", ", ".join(methods))
        if snapshot.method == "OPTIONS":
            return Plan(204, catalogue.reason_phrase(204), (allow,)), "answered"
        if snapshot.method in allowed:
            return plan, "unmatched"  # the method is served here; something else did not match
        body = json.loads(plan.body)
        body["error_code"] = catalogue.error_code(405)
        body["error_msg"] = f"{snapshot.method} is not allowed on {snapshot.path}; allowed: {allow[1]}"
        return Plan(405, catalogue.reason_phrase(405), (("Content-Type", "application/json"), allow),
                    json.dumps(body).encode()), "unmatched"

    def _after(self, entry: Entry) -> None:
        for hook in self.exchange_hooks:
            try:
                hook(entry)
            except Exception:
                log.exception("exchange hook %r failed", hook)

    def _entry(self, request: web.BaseRequest, snapshot: RequestSnapshot, resolution: Resolution,
               request_id: str, status: int, reason: str, outcome: str, arrived: float) -> Entry:
        # the parser's header pairs (shared with the previous entry when the client sent the same
        # ones) and an interned path: a full journal keeps thousands of these
        headers = self._last_headers
        if not headers.same(request.raw_headers):
            headers = self._last_headers = WireHeaders(request.raw_headers)
        return Entry(
            seq=0, request_id=request_id, method=snapshot.method,
            path=sys.intern(snapshot.path), query_string=snapshot.raw_path.partition("?")[2],
            headers=headers, body=snapshot.body[:self.journal_body_limit],
            client=snapshot.client, session=resolution.session,
            rule=resolution.rule.id if resolution.rule is not None else None, status=status,
            reason=reason, outcome=outcome, delay=resolution.delay, deadline=resolution.deadline,
            arrived=arrived, near_misses=resolution.near_misses, decisions=resolution.decisions,
            injected=tuple(resolution.injected))
