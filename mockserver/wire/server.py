"""The aiohttp side: a catch-all handler that carries out resolutions, and WireServer.

WireServer (the base of ``mockserver.MockServer``, app/server.py) has two lifecycles on one
class: ``with`` runs the server on its own loop in a daemon thread (sync tests: requests, the
Huawei SDK), ``async with`` runs it on the caller's loop (async tests). Delays are asyncio
sleeps, so thousands of delayed answers cost no threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import os
import random
import secrets
import ssl
import sys
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, Unpack

from aiohttp import hdrs, http_exceptions, web
from aiohttp.http import HttpVersion11

from .. import catalogue
from ..answer import KNOWN_METHODS, Answer, Refusal, answer, refuse_body, refuse_expectation, refuse_head
from ..backend import STATE_UNAVAILABLE, MemoryBackend, StateBackend, StateUnavailable
from ..clock import Clock
from ..config import ServerConfig, ServerKeywords
from ..engine import Engine, Resolution
from ..faults import seeded_bytes
from ..journal import Entry, Journal, Outcome, WireHeaders, finished
from ..record.capture import Captured
from ..request import RequestSnapshot
from ..resources import CollectionState, collection_items, set_collection
from ..responses import Plan
from ..rules import Proxy
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
from ..streams import Stream, plan_stream
from ..templating import Context, TemplateRenderError
from .aiohttp_compat import PARSER_UPPERCASES_METHODS, answer_as_http11
from .connection import FaithfulHandler, error_response, faithful_runner
from .effects import send_raw, wait_closed
from .exchange import apply_fault, read_throttled, upstream_rate
from .http1 import Sent, encode, encode_verbatim
from .listeners import FaultListeners
from .proxy import FaultPlan, Forwarder, Upstream, forward
from .streaming import send_stream, stream_headers, websocket_fault
from .timers import Sleeper
from .tls_faults import (
    HANDSHAKE_FAULTS,
    Authority,
    FaultListener,
    TlsFaultError,
    TlsFaults,
    check_name,
    negotiation_context,
)

if TYPE_CHECKING:  # redis is the optional extra: imported only when --state names it
    from .redis_control import Replicator
    from .redis_journal import SharedJournal

__all__ = ["Mount", "ScenarioSource", "WireServer"]

_T = TypeVar("_T")

ScenarioSource = str | os.PathLike[str] | Mapping[str, Any] | Scenario
log = logging.getLogger("mockserver")
EXPECT = hdrs.EXPECT


def _refusal_response(refusal: Refusal) -> web.Response:
    """The catalogue answer for a refusal decided in the core (it closes the connection)."""
    return error_response(refusal.status, refusal.message, dict(refusal.headers) or None)


def _method_as_sent(request: web.BaseRequest, method: str) -> str:
    """The method as the client wrote it: aiohttp's pure-Python parser upper-cases it, and
    methods are case-sensitive (RFC 9110 9.1), so ``get`` is an unknown method (501)."""
    protocol = request.protocol
    sent = protocol.method_as_sent() if isinstance(protocol, FaithfulHandler) else b""
    return sent.decode("latin-1") if sent.upper() == method.encode() else method


def _no_collection(name: str, collections: Mapping[str, Any]) -> str:
    declared = ", ".join(repr(n) for n in sorted(collections)) or "none"
    return f"no collection named {name!r}; declared by the loaded scenarios: {declared}"


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


#: what answers under a path prefix instead of the scenarios: (prefix, dispatch, on_close)
Mount = tuple[str, Callable[[web.BaseRequest], Awaitable[web.StreamResponse]], Callable[[], None]]
_NO_PREFIX = "\0"  # no request path starts with NUL: nothing is mounted


class _Notes(list[str]):
    """A fault's notes (its write plan), each published to the journal as it is made: the plan is
    noted before the bytes go out, so a client that has its answer finds the plan journaled."""

    def __init__(self, publish: Callable[[str], None]) -> None:
        super().__init__()
        self._publish = publish

    def append(self, note: str) -> None:
        super().append(note)
        self._publish(note)


class WireServer:
    """An HTTP server that answers from scenarios, with nothing mounted beside them.

    The user-facing ``mockserver.MockServer`` (app/server.py) adds the control API on top;
    this layer knows nothing of it (``_mount``), so wire never imports control.
    Reads of the journal and state are thread-safe, so a sync test can inspect a threaded server.
    """

    __test__ = False
    #: bind with SO_REUSEPORT, beside the other workers of `serve --workers N` (mockserver/workers.py)
    reuse_port: bool = False
    _sleeper: Sleeper  # the delays' shared timers, on the serving loop (made by start)

    def __init__(
        self,
        scenarios: ScenarioSource | Iterable[ScenarioSource] | None = None,
        *,
        config: ServerConfig | None = None,
        ssl_context: ssl.SSLContext | None = None,
        on_proxied: Callable[[Captured], None] | None = None,
        tls: Authority | None = None,
        **settings: Unpack[ServerKeywords],
    ) -> None:
        # one table checks every keyword (mockserver/config.py): a bad one is a ConfigError naming it
        self.config = config = ServerConfig.server_keywords(config, **settings)
        self.host = config.host
        self.port = config.port
        self.store = StateStore()
        self.journal = Journal(config.journal_size)
        self._last_headers = WireHeaders(())  # the last request's, shared by entries that repeat them
        self.max_delay = config.max_delay
        self.shutdown_timeout = config.shutdown_timeout
        self.max_body_size = config.max_body_size
        self.max_uri = config.max_uri  # request targets longer than this get 414
        self.max_header = config.max_header  # header lines longer than this get 431
        self.max_headers = config.max_headers  # more header fields than this get 431
        self.body_timeout = config.body_timeout  # a body that stalls this long gets 408
        self.header_timeout = config.header_timeout  # headers that stall this long (timed from the open), too
        self.keepalive_timeout = config.keepalive_timeout  # an idle connection is closed after this
        self.max_connections = config.max_connections  # open connections beyond this get 503 and a close
        self.journal_body_limit = config.journal_body_limit  # bytes of each request body the journal keeps
        self.started_at = time.time()
        self.time_scale = config.time_scale  # fast mode: every sleep is multiplied by this
        self.clock = Clock()
        # the state backend: in memory (the engine's own fast path) or shared (Redis, one claim a request)
        self.backend: StateBackend = MemoryBackend(self.store, self.clock, config.time_scale)
        self.shared_state: StateBackend | None = None
        if config.state != "memory":
            from .redis_state import open_backend  # redis is the optional extra mockserver[redis]

            self.shared_state = self.backend = open_backend(
                config.state, prefix=config.state_prefix, time_scale=config.time_scale,
                timeout=config.state_timeout, lease=config.state_lease)
            self._share_journal(config)
        self.in_flight = 0
        # called with each finished exchange (metrics, JSON logs); errors in hooks are logged only
        self.exchange_hooks: list[Callable[[Entry], None]] = []
        # the control API (/__mock/...): with a token, every control request must carry it as
        # "Authorization: Bearer <token>"; public_health leaves /__mock/health open
        self.admin_token = config.admin_token or None
        self.public_health = config.public_health
        self.ssl_context = ssl_context  # serve HTTPS (tls.py makes one)
        self.header_control = config.header_control
        # forwarding (wire/proxy.py): unmatched requests to this upstream, and who sees each exchange
        self.proxy_unmatched = Proxy(config.proxy_unmatched.rstrip("/"), source="--proxy-unmatched") \
            if config.proxy_unmatched else None
        self.forwarder = Forwarder(timeout=config.proxy_timeout, ca=config.proxy_ca,
                                   observers=[on_proxied] if on_proxied is not None else None)
        # connection-level faults on extra ports (listeners.py); the chosen ports once started
        self.fault_listeners = FaultListeners(config.host, config.refuse_port, config.silent_port,
                                              config.blackhole_port)
        # a TLS fault for every handshake on this listener (tls_faults.py), and the generated CA
        # that fault certificates (and the scenarios' per-host ones) are made from
        self.tls_fault = None if config.tls_fault is None else check_name(config.tls_fault)
        self.tls_authority = tls
        self._fault_listener: FaultListener | None = None
        self._runtime_faults: list[RuntimeFault] = []
        self._fault_names = itertools.count(1)
        self.engine = self._build(_load(scenarios), config.seed)
        self._runner: web.BaseRunner | None = None
        self._control_prefix = _NO_PREFIX
        self._control_dispatch: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]] | None = None
        self._on_close: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        # request ids: 8 random hex digits for this server, then the number in 12
        self._id_of: Callable[[int], str] = (secrets.token_hex(4) + "%012x").__mod__
        self._attach()

    def _attach(self) -> None:
        """What the composed server (app/server.py) adds at construction: here, nothing."""

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
        """Deprecated spelling of set_seed (kept so existing code keeps working)."""
        warnings.warn("server.seed = n is deprecated; use server.set_seed(n)", DeprecationWarning,
                      stacklevel=2)
        self.set_seed(value)

    def set_seed(self, seed: int | None) -> None:
        """Reseed delays and chaos: the one spelling, shared with RemoteMockServer, the fixture and
        the control API's ``POST /seed``."""
        self.engine = self._build(self.engine.scenarios, seed)

    def states(self, session: str = "") -> dict[str, str]:
        shared = self._on_shared(lambda b: b.states(session))
        return shared if shared is not None else self.store.states(session, self._scaled_clock())

    def set_state(self, name: str, value: str, session: str = "") -> None:
        self.store.set_state(name, value, session)
        self._on_shared(lambda b: b.set_state(name, value, session))

    def resources(self, name: str, session: str = "") -> list[dict[str, Any]]:
        """A collection's items as a session sees them now (lifecycles applied); KeyError if no
        loaded scenario declares it. With --state redis://, read from Redis (docs/resources.md)."""
        engine = self.engine
        if name not in engine.collections:
            raise KeyError(_no_collection(name, engine.collections))
        if self.shared_state is not None:
            return self._resources_shared(self.resources_async(name, session))
        with self.store.lock:
            return collection_items(engine.collection_state(name, session), engine.clock())

    def set_resources(self, name: str, items: list[Any], session: str = "") -> list[dict[str, Any]]:
        """Replace a session's collection with *items* (until a reset brings the seed back);
        ValueError says what is wrong with them, and nothing changes."""
        state = self._collection_from(name, items)
        if self.shared_state is not None:
            return self._resources_shared(self.set_resources_async(name, items, session))
        with self.store.lock:
            self.store.session(session).resources[name] = state
        return self.resources(name, session)

    async def resources_async(self, name: str, session: str = "") -> list[dict[str, Any]]:
        """resources() through the state backend (on the server's loop: the control API)."""
        engine = self.engine
        if name not in engine.collections:
            raise KeyError(_no_collection(name, engine.collections))
        return await engine.read_collection(self.backend, name, session)

    async def set_resources_async(self, name: str, items: list[Any],
                                  session: str = "") -> list[dict[str, Any]]:
        """set_resources() through the state backend (on the server's loop: the control API)."""
        state = self._collection_from(name, items)
        return await self.engine.write_collection(self.backend, name, state, session)

    def _collection_from(self, name: str, items: list[Any]) -> CollectionState:
        """*items* as the collection *name*'s new state; KeyError or ValueError say what is wrong."""
        engine = self.engine
        spec = engine.collections.get(name)
        if spec is None:
            raise KeyError(_no_collection(name, engine.collections))
        state = set_collection(spec, items)
        if isinstance(state, str):
            raise ValueError(state)
        return state

    def _resources_shared(self, call: Coroutine[Any, Any, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Run a shared collection call from the test's thread; on the server's own loop it cannot
        be waited for here, so say what to await instead."""
        found = self._on_shared(lambda _: call)
        if found is None:
            call.close()
            raise RuntimeError("with --state redis://..., on the server's own loop, await "
                               "server.resources_async() / set_resources_async() instead")
        return found

    def advance(self, seconds: float) -> None:
        """Move the clock on (timelines, rate limits) without waiting."""
        self.clock.advance(seconds)
        self._on_shared(lambda b: b.advance(seconds))

    #: with --state redis://, the journal every replica writes and reads (wire/redis_journal.py)
    shared_journal: SharedJournal | None = None
    replicator: Replicator | None = None

    def _share_journal(self, config: ServerConfig) -> None:
        # redis is the optional extra mockserver[redis]
        from .redis_control import Replicator
        from .redis_journal import SharedJournal

        self.journal = self.shared_journal = SharedJournal(
            config.journal_size, config.state, config.state_prefix, timeout=config.state_timeout)
        # one control plane (wire/redis_control.py): control calls replayed on every replica
        self.replicator = Replicator(config.state, config.state_prefix, timeout=config.state_timeout,
                                     token=config.admin_token or None)

    def freeze(self, at: float | None = None) -> None:
        """Stop real time counting (only advance() moves the clock), on every replica when shared."""
        self.clock.freeze(at)
        self._on_shared(lambda b: b.freeze(at))

    def unfreeze(self) -> None:
        """Count real time again, from where the clock stands (on every replica when shared)."""
        self.clock.unfreeze()
        self._on_shared(lambda b: b.unfreeze())

    def _on_shared(self, call: Callable[[StateBackend], Coroutine[Any, Any, _T]]) -> _T | None:
        """From another thread than the server's (a test beside an in-thread server), run *call* on
        the shared backend and wait for it. On the server's own loop (the control API), or
        without a shared backend, do nothing: the caller awaits the backend itself."""
        backend, loop = self.shared_state, self._loop
        if backend is None or loop is None or self._thread is None \
                or threading.current_thread() is self._thread:
            return None
        return asyncio.run_coroutine_threadsafe(call(backend), loop).result(30)

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
        self._on_shared(lambda b: b.reset(session, clock=session is None))
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

    def _mount(self) -> Mount | None:
        """What answers under a path prefix instead of the scenarios; the composed server says."""
        return None

    async def start(self) -> None:
        """Start serving on the running loop."""
        # aiohttp's low-level server: one handler takes every request, with no Application and
        # no router on the way (a mount, the control API, is dispatched by prefix in _handle), which
        # is most of what a mock adds per request over a bare aiohttp app (docs/performance.md)
        self._sleeper = Sleeper(asyncio.get_running_loop())
        if self.shared_journal is not None:
            await self.shared_journal.open()
        mount = self._mount()
        if mount is not None:
            self._control_prefix, self._control_dispatch, self._on_close = mount
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
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, ssl_context=context,
                           reuse_port=self.reuse_port or None, backlog=self.config.backlog)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        if self.replicator is not None and mount is not None:  # control calls from the other replicas
            # on a private loopback port of this process: the serving port may be shared with other
            # workers (SO_REUSEPORT), and a replay sent there could land on the replica that sent it
            replay = web.TCPSite(runner, "127.0.0.1", 0)
            await replay.start()
            replay_port = int(runner.addresses[-1][1])
            await self.replicator.open(f"http://127.0.0.1:{replay_port}")
        try:
            await self.fault_listeners.open()
        except BaseException:
            self._runner = None
            await runner.cleanup()
            raise

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
            reason="", outcome=Outcome.TLS_FAULT, arrived=time.time(),
            fault=fault, decisions=(f"tls {fault}: {outcome}",), layer="tls", sni=sni))

    async def close(self) -> None:
        """Stop accepting, let in-flight answers end within shutdown_timeout, then close."""
        listener, self._fault_listener = self._fault_listener, None
        if listener is not None:
            await listener.close()
        runner, self._runner = self._runner, None
        await self.fault_listeners.close()
        if runner is not None:
            if self._on_close is not None:
                self._on_close()  # e.g. open dashboard pages' streams end at once
            await runner.cleanup()
        await self.forwarder.close()
        if self.replicator is not None:
            await self.replicator.close()
        if self.shared_journal is not None:
            await self.shared_journal.close()
        if self.shared_state is not None:
            await self.shared_state.close()

    def add_proxy_observer(self, observer: Callable[[Captured], None]) -> None:
        """Call *observer* with a Captured for every forwarded exchange (wire/proxy.py)."""
        self.forwarder.observers.append(observer)

    def _proxy_target(self, resolution: Resolution, plan: Plan, engine: Engine) -> Proxy | None:
        """Where to forward this request, if anywhere: a proxy rule whose own answer stands (chaos
        may replace it with a status, which is then sent instead), or an unmatched request."""
        rule = resolution.rule
        if rule is not None:
            if rule.proxy is not None and any(plan is p for p in rule.responder.plans):
                if rule.proxy.url:
                    return rule.proxy
                default = self._default_upstream(engine, rule.scenario)
                return dataclasses.replace(rule.proxy, url=default.url if default is not None else "")
            return None
        if resolution.overridden and resolution.fault is None:
            return None  # a runtime fault or header control answered instead
        return self._default_upstream(engine)

    def _default_upstream(self, engine: Engine, scenario: str | None = None) -> Proxy | None:
        """--proxy-unmatched, else the named scenario's proxy_unmatched, else any scenario's."""
        if self.proxy_unmatched is not None:
            return self.proxy_unmatched
        found = [s.proxy_unmatched for s in engine.scenarios if s.proxy_unmatched is not None
                 and (scenario is None or s.name == scenario)]
        if not found and scenario is not None:
            return self._default_upstream(engine)
        return found[0] if found else None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def __enter__(self) -> Self:
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
        if thread.is_alive():  # said, not hidden: the next test would find this server still running
            log.warning("mockserver %s did not stop within %gs (its close is still running)",
                        self.url, timeout)

    # --- the handler -----------------------------------------------------------------------------

    def _next_request_id(self) -> str:
        return self._id_of(next(self._ids))

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if EXPECT in request.headers:  # what aiohttp's Application would do, before the handler
            answered = await self._expect(request)
            if answered is not None:
                return answered
        path, prefix = request.path, self._control_prefix
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            assert self._control_dispatch is not None  # set with the prefix
            return await self._control_dispatch(request)
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
                reason="InternalServerError", outcome=Outcome.ERROR, arrived=time.time(),
                decisions=(f"{type(exc).__name__}: {exc}",))
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
            body = b""
            if request.can_read_body:
                rate = upstream_rate(self._peek(request, engine))  # the bandwidth fault's upstream
                reading = read_throttled(request, rate, self.time_scale) if rate else request.read()
                body = await asyncio.wait_for(reading, self.body_timeout)
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
        if self.shared_state is None:
            resolution = engine.resolve(snapshot, request_id)
        else:
            try:
                resolution = await engine.resolve_async(snapshot, self.shared_state, request_id)
            except StateUnavailable:  # nothing was counted that this answer does not say
                return await self._refused(
                    request, error_response(503, STATE_UNAVAILABLE, {"Retry-After": "1"}), arrived)
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
            rule=None, status=None, reason="", outcome=Outcome.CLIENT_GONE, arrived=arrived,
            ended=time.time())
        entry = self.journal.record(entry)
        self._after(entry)
        return web.Response(status=400)  # never written: the transport is closed

    def _refuse_early(self, request: web.BaseRequest) -> web.Response | None:
        """Protocol-level refusals that need no rule (answer.refuse_head decides them)."""
        version = request.version
        method = request.method
        if method in KNOWN_METHODS and PARSER_UPPERCASES_METHODS:
            method = _method_as_sent(request, method)
        refusal = refuse_head(version, method, len(request.raw_path), request.content_length,
                              self.max_uri, self.max_body_size)
        if refusal is None:
            return None
        if refusal.status == 505:
            answer_as_http11(request)  # the status line echoes it otherwise
        return _refusal_response(refusal)

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
        refusal = refuse_body(rule, request.content_length, request.content_type)
        return None if refusal is None else _refusal_response(refusal)

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
            rule=None, status=response.status, reason=response.reason, outcome=Outcome.REFUSED,
            arrived=arrived, ended=time.time(), response_headers=tuple(response.headers.items()))
        entry = self.journal.record(entry)
        self._after(entry)

    async def _expect(self, request: web.BaseRequest) -> web.StreamResponse | None:
        """Expect: 100-continue. The interim 100 goes out before the body is read, unless a rule
        (or a limit) refuses the request first: then the refusal is the answer and the
        connection closes, so the client never sends the body."""
        if request.version != HttpVersion11:
            return None  # an HTTP/1.0 client's expectation MUST be ignored (RFC 9110 10.1.1)
        arrived = time.time()
        refusal = refuse_expectation(request.headers.get("Expect", ""))
        response: web.Response | None
        if refusal is not None:
            response = _refusal_response(refusal)
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
        """Carry out the core's Answer: sleep, journal, write (or run the fault), journal the end."""
        # counted from arrival: the time spent reading and resolving is part of the delay
        now = time.time()
        wait = max(0.0, min(resolution.delay, self.max_delay) * self.time_scale - (now - arrived))
        done = answer(resolution, snapshot, request_id, allowed=engine.allowed_methods,
                      timeout_plan=engine.timeout_plan, max_delay=self.max_delay,
                      last_modified=self.started_at, now=now + wait, clock=engine.clock)
        status, reason, payload, fault = done.status, done.reason, done.body, done.fault
        pending: Entry | None = None
        if done.sleep > 0:
            # journaled on arrival (waiters count arrivals); the finished entry replaces it
            pending = self.journal.begin(self._entry(request, snapshot, resolution, request_id, done,
                                                     arrived, Outcome.PENDING))
            await self._sleeper.sleep(done.sleep * self.time_scale - (time.time() - arrived))
        if not done.timed_out and (target := self._proxy_target(resolution, resolution.plan, engine)):
            return await self._proxied(request, snapshot, resolution, request_id, done, arrived, pending,
                                       target)
        first_byte = time.time()
        stream = resolution.rule.stream if resolution.rule is not None else None
        if stream is not None and fault is None and not resolution.overridden \
                and done.outcome is Outcome.ANSWERED and 200 <= status < 300:
            return await self._streamed(request, snapshot, resolution, request_id, done, arrived, pending,
                                        stream, engine)
        version, method, keep_alive = request.version, request.method, request.keep_alive
        if fault is None and not done.break_protocol and (encoded := (
                encode(version, status, reason, done.headers, payload, method, keep_alive)
                if done.verbatim is None
                else encode_verbatim(done.verbatim, request_id, version, method, keep_alive))) is not None:
            # the common case, journaled finished before the first byte goes out: a client that
            # has its answer finds it journaled (a write that fails replaces it as client_gone)
            if pending is None:
                entry = self.journal.record(self._entry(request, snapshot, resolution, request_id, done,
                                                        arrived, done.outcome, first_byte, first_byte))
            else:
                entry = self.journal.finish(pending, pending.settled(done.outcome, first_byte, first_byte))
            sent = Sent(status, reason, *encoded)
            try:
                if sent.push(request):  # no coroutine for the common case: the socket took it all
                    await request.writer.drain()
            except ConnectionResetError:
                gone = entry.settled(Outcome.CLIENT_GONE, first_byte, time.time())
                entry = self.journal.finish(entry, gone)
            self._after(entry)
            return sent
        return await self._written(request, snapshot, resolution, request_id, done, arrived, pending,
                                   first_byte)

    async def _written(self, request: web.BaseRequest, snapshot: RequestSnapshot, resolution: Resolution,
                       request_id: str, done: Answer, arrived: float, pending: Entry | None,
                       first_byte: float) -> web.StreamResponse:
        """The answers that are not plain bytes: a fault, a broken protocol, or declared framing."""
        status, reason, payload, fault = done.status, done.reason, done.body, done.fault
        headers = list(done.headers)
        response: web.StreamResponse | None
        if pending is None:
            pending = self.journal.begin(self._entry(request, snapshot, resolution, request_id, done,
                                                     arrived, done.outcome, first_byte))
        outcome = done.outcome
        current = [pending]  # the journal's newest value for this exchange

        def publish(note: str) -> None:
            held = current[0]
            current[0] = self.journal.finish(held, finished(held, decisions=(*held.decisions, note)))

        noted = _Notes(publish)  # what the fault notes (its write plan), journaled at once
        try:
            if fault is not None:
                response = await apply_fault(
                    fault, request, status, reason, headers, payload, seed=resolution.seed,
                    key=resolution.counter or "(unmatched)", ordinal=resolution.ordinal,
                    max_hang=self.max_delay, time_scale=self.time_scale, decisions=noted)
                if response is None:  # the fault took the connection; aiohttp's write is a no-op
                    response = web.Response(status=status, reason=reason)
            elif done.break_protocol:
                await send_raw(request, status, reason, headers, payload)
                if status < 200:  # a bare 1xx: the client waits for a final answer that never comes
                    await wait_closed(request, self.max_delay)
                response = web.Response(status=status, reason=reason)
            else:  # a declared Content-Length or Transfer-Encoding: aiohttp's writer frames it
                response = web.Response(status=status, reason=reason, headers=headers,
                                        body=payload or None)
                await response.prepare(request)
                await response.write_eof()
        except ConnectionResetError:
            outcome = Outcome.CLIENT_GONE
            response = web.Response(status=status, reason=reason)
        entry = self._entry(request, snapshot, resolution, request_id, done, arrived, outcome, first_byte,
                            time.time())
        if noted:
            entry = finished(entry, decisions=(*entry.decisions, *noted))
        entry = self.journal.finish(current[0], entry)
        self._after(entry)
        return response

    async def _proxied(self, request: web.BaseRequest, snapshot: RequestSnapshot, resolution: Resolution,
                       request_id: str, done: Answer, arrived: float, pending: Entry | None,
                       target: Proxy) -> web.StreamResponse:
        """Forward to the upstream (wire/proxy.py) and journal what came back, or how it failed."""
        fault = done.fault
        decisions = [*done.decisions, f"proxy: {snapshot.method} to {target.url} ({target.source})"]
        current = [pending]  # the journal's newest value for this exchange

        def on_head(status: int, reason: str, headers: list[tuple[str, str]], upstream: Upstream) -> None:
            outcome, fault_name = (Outcome.PROXIED, None) if fault is None else (Outcome.FAULT, fault.type)
            if upstream.failure is not None:
                outcome, fault_name = Outcome.UPSTREAM_FAILED, f"upstream_{upstream.failure}"
                decisions.append(f"proxy: upstream {upstream.failure}: {upstream.detail}")
            seen: tuple[int | None, str, tuple[tuple[str, str], ...]] = (status, reason, tuple(headers))
            if fault is not None and not fault.sends_status and upstream.failure is None:
                seen = (None, "", ())  # the client meets the fault, not a status line
            entry = finished(self._entry(request, snapshot, resolution, request_id, done, arrived, outcome,
                                         time.time()),
                             status=seen[0], reason=seen[1], response_headers=seen[2], fault=fault_name,
                             decisions=tuple(decisions))
            held = current[0]
            current[0] = self.journal.record(entry) if held is None else self.journal.finish(held, entry)

        plan = None if fault is None else FaultPlan(
            fault, resolution.seed, resolution.counter or "(unmatched)", resolution.ordinal, self.max_delay,
            self.time_scale)
        gone = False
        try:
            response = await forward(self.forwarder, request, snapshot.body, target, fault=plan,
                                     extra_headers=resolution.extra_headers, request_id=request_id,
                                     on_head=on_head)
        except ConnectionResetError:
            gone = True
            held = current[0]
            response = web.Response(status=(held.status if held is not None else None) or 502)
        held = current[0]
        if held is None:  # the upstream never gave a head: journal what the client met
            held = self.journal.record(self._entry(request, snapshot, resolution, request_id, done, arrived,
                                                   Outcome.CLIENT_GONE if gone else done.outcome))
        entry = self.journal.finish(held, finished(
            held, ended=time.time(), decisions=tuple(decisions),
            outcome=Outcome.CLIENT_GONE if gone else held.outcome))
        self._after(entry)
        return response

    async def _streamed(self, request: web.BaseRequest, snapshot: RequestSnapshot, resolution: Resolution,
                        request_id: str, done: Answer, arrived: float, pending: Entry | None, stream: Stream,
                        engine: Engine) -> web.StreamResponse:
        """A streaming answer (streams.py plans it, wire/streaming.py writes it), journaled with
        its fault and how many events went out."""
        key = resolution.counter or "(unmatched)"
        ctx = Context(snapshot, resolution.params, request_id, engine.clock(), resolution.seed,
                      resolution.ordinal, key)
        try:
            plan = plan_stream(stream, ctx, snapshot.headers.get("Last-Event-ID"),
                               random.Random(seeded_bytes(resolution.seed, key, resolution.ordinal, 16)))
        except TemplateRenderError as exc:
            where = resolution.rule.source if resolution.rule is not None else ""
            failed = error_response(500, f"template failed at {where}: {exc}")
            entry = finished(self._entry(request, snapshot, resolution, request_id, done, arrived,
                                         Outcome.ERROR, time.time(), time.time()),
                             status=500, reason=failed.reason,
                             decisions=(*done.decisions, f"template failed: {exc}"))
            entry = self.journal.record(entry) if pending is None else self.journal.finish(pending, entry)
            self._after(entry)
            return failed
        headers = stream_headers(stream, done.headers)
        outcome = Outcome.ANSWERED if stream.fault is None else Outcome.FAULT
        entry = finished(self._entry(request, snapshot, resolution, request_id, done, arrived, outcome,
                                     time.time()),
                         response_headers=tuple(headers), decisions=(*done.decisions, *plan.notes),
                         fault=None if stream.fault is None else stream.fault.type)
        started = self.journal.begin(entry) if pending is None else self.journal.finish(pending, entry)
        current = [started]
        unit = "events" if stream.format == "sse" else "lines"

        def ending(sent: int, ended: str) -> None:
            current[0] = self.journal.finish(current[0], finished(
                started, ended=time.time(),
                outcome=Outcome.CLIENT_GONE if ended == "client_gone" else outcome,
                decisions=(*started.decisions,
                           f"stream: sent {sent} of {len(plan.steps)} {unit}, ended {ended}")))

        response, _, _ = await send_stream(request, plan, done.status, done.reason, headers,
                                           time_scale=self.time_scale, max_hang=self.max_delay, ending=ending)
        self._after(current[0])
        return response

    async def _websocket(self, request: web.BaseRequest, snapshot: RequestSnapshot, resolution: Resolution,
                         request_id: str, arrived: float) -> web.StreamResponse:
        """101 Switching Protocols and the rule's scripted exchange (aiohttp does the handshake)."""
        rule = resolution.rule
        assert rule is not None
        assert rule.websocket is not None
        ws = web.WebSocketResponse()
        ws.headers["X-Request-Id"] = request_id
        opened = Answer(101, catalogue.reason_phrase(101), (), b"", Outcome.ANSWERED,
                        decisions=tuple(resolution.decisions))
        current = self.journal.begin(self._entry(request, snapshot, resolution, request_id, opened, arrived,
                                                 Outcome.ANSWERED))
        await ws.prepare(request)
        # each step that says something is a newer snapshot in the journal, replacing the last
        current = self.journal.finish(current, finished(
            current, response_headers=tuple(ws.headers.items()), first_byte=time.time()))
        received: list[str] = []
        outcome = Outcome.ANSWERED
        fault_name: str | None = None
        try:
            for step in rule.websocket:
                if step.abort or step.reset or step.malformed:  # faults (wire/streaming.py)
                    fault_name, outcome = websocket_fault(request, step), Outcome.FAULT
                    received.append(f"websocket fault: {fault_name}")
                    current = self.journal.finish(current, finished(
                        current, outcome=outcome, fault=fault_name, decisions=(*opened.decisions, *received)))
                    if step.malformed:
                        continue
                    break
                going = await self._websocket_step(ws, step, received)
                if received and len(current.decisions) != len(opened.decisions) + len(received):
                    current = self.journal.finish(current, finished(
                        current, decisions=(*opened.decisions, *received)))
                if not going:
                    break
            else:
                await ws.close()
        except (TimeoutError, ConnectionResetError):
            outcome = Outcome.CLIENT_GONE
        entry = self.journal.finish(current, finished(current, outcome=outcome, ended=time.time(),
                                                      decisions=(*opened.decisions, *received)))
        self._after(entry)
        return ws

    async def _websocket_step(self, ws: web.WebSocketResponse, step: WebSocketStep,
                              received: list[str]) -> bool:
        """One step of a scripted exchange; False once the socket is closed."""
        if step.send is not None:
            await ws.send_str(step.send)
        elif step.send_json is not None:
            await ws.send_json(step.send_json)
        elif step.receive:
            message = await ws.receive(timeout=self.max_delay)
            received.append(f"websocket received {message.type.name}: {message.data!r}"[:200])
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

    def _after(self, entry: Entry) -> None:
        for hook in self.exchange_hooks:
            try:
                hook(entry)
            except Exception:
                log.exception("exchange hook %r failed", hook)

    def _entry(self, request: web.BaseRequest, snapshot: RequestSnapshot, resolution: Resolution,
               request_id: str, done: Answer, arrived: float, outcome: Outcome,
               first_byte: float | None = None, ended: float | None = None) -> Entry:
        """The journal's value for this exchange: the answer as the client meets it."""
        # the parser's header pairs (shared with the previous entry when the client sent the same
        # ones) and an interned path: a full journal keeps thousands of these
        headers = self._last_headers
        if not headers.same(request.raw_headers):
            headers = self._last_headers = WireHeaders(request.raw_headers)
        fault, rule = done.fault, resolution.rule
        # positional, in the order of Entry's fields (a keyword call of them all costs three times
        # as much, on every request; tests/journal/test_entries.py pins each field of the result)
        return Entry(
            0, request_id, snapshot.method, sys.intern(snapshot.path), snapshot.raw_path.partition("?")[2],
            headers, snapshot.body[:self.journal_body_limit], snapshot.client, resolution.session,
            None if rule is None else rule.id, done.seen_status, done.seen_reason, outcome, resolution.delay,
            resolution.deadline, arrived, first_byte, ended, done.decisions, resolution.near_misses,
            done.seen_headers, None if fault is None else fault.type, tuple(resolution.injected))
