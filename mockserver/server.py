"""The aiohttp side: a catch-all handler that carries out resolutions, and MockServer.

MockServer has two lifecycles on one class: ``with`` runs the server on its own loop in a
daemon thread (sync tests: requests, the Huawei SDK), ``async with`` runs it on the caller's
loop (async tests). Delays are asyncio sleeps, so thousands of delayed answers cost no threads.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from .clock import Clock
from .engine import Engine, Resolution
from .journal import Entry, Journal
from .request import RequestSnapshot
from .scenario import RuntimeFault, Scenario, load_paths, load_runtime_fault, load_scenario
from .state import StateStore
from .templating import Context
from .wire import perform_fault

__all__ = ["MockServer", "ScenarioSource"]

ScenarioSource = str | os.PathLike[str] | Mapping[str, Any] | Scenario
log = logging.getLogger("mockserver")


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
        time_scale: float = 1.0,
        admin_token: str | None = None,
        public_health: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        header_control: bool = False,
    ) -> None:
        from .metrics import Metrics

        self.host = host
        self.port = port
        self.store = StateStore()
        self.journal = Journal(journal_size)
        self.max_delay = max_delay
        self.shutdown_timeout = shutdown_timeout
        self.max_body_size = max_body_size
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
        self.reload_error: str | None = None  # set by the file watcher (reload.py), shown in health
        self.metrics = Metrics()
        self.exchange_hooks.append(self.metrics.observe)
        self.header_control = header_control
        self._runtime_faults: list[RuntimeFault] = []
        self._fault_names = itertools.count(1)
        self.engine = self._build(_load(scenarios), seed)
        self._runner: web.AppRunner | None = None
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
        return f"http://{host}:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    @property
    def base_url(self) -> str:
        """Like ``url``, with ``https`` when serving TLS."""
        scheme = "https" if self.ssl_context is not None else "http"
        return scheme + self.url.removeprefix("http")

    # --- serving ---------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        from .admin import mount

        app = web.Application(client_max_size=self.max_body_size)
        mount(app, self)  # the control API first: the catch-all below would take its paths
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self) -> None:
        """Start serving on the running loop."""
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, ssl_context=self.ssl_context)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])

    async def close(self) -> None:
        """Stop accepting, let in-flight answers end within shutdown_timeout, then close."""
        runner, self._runner = self._runner, None
        if runner is not None:
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

    async def _handle(self, request: web.Request) -> web.StreamResponse:
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
                seq=self.journal.next_seq(), request_id="", method=request.method, path=request.path,
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

    async def _exchange(self, request: web.Request) -> web.StreamResponse:
        arrived = time.time()
        body = await request.read()
        snapshot = RequestSnapshot(
            request.method, request.path, query=request.query, headers=request.headers, body=body,
            raw_path=request.raw_path, client=request.remote or "",
            version=f"{request.version.major}.{request.version.minor}")
        engine = self.engine
        request_id = self._next_request_id()
        resolution = engine.resolve(snapshot, request_id)
        try:
            return await self._answer(request, snapshot, resolution, request_id, arrived, engine)
        finally:
            if resolution.release is not None:  # a concurrency-cap slot
                resolution.release()

    async def _answer(self, request: web.Request, snapshot: RequestSnapshot, resolution: Resolution,
                      request_id: str, arrived: float, engine: Engine) -> web.StreamResponse:
        plan, fault = resolution.plan, resolution.fault
        outcome = "answered" if resolution.rule is not None else "unmatched"
        delay = min(resolution.delay, self.max_delay)
        if delay > 0:
            deadline = resolution.deadline
            if deadline is not None and delay > deadline:
                await asyncio.sleep(deadline * self.time_scale)
                plan, fault, outcome = engine.timeout_plan, None, "timed_out"
            else:
                await asyncio.sleep(delay * self.time_scale)
        if plan.templated:
            headers, payload = plan.render(Context(snapshot, resolution.params, request_id))
        else:
            headers, payload = list(plan.headers), plan.body
        if resolution.extra_headers:
            headers.extend(resolution.extra_headers)
        headers.append(("X-Request-Id", request_id))
        entry = self._entry(snapshot, resolution, request_id, plan.status, plan.reason, outcome, arrived)
        # recorded before the first byte goes out: a client that has its answer finds it journaled
        self.journal.record(entry)
        entry.first_byte = time.time()
        response: web.StreamResponse | None
        try:
            if fault is not None:
                entry.outcome = "fault"
                response = await perform_fault(
                    fault, request, plan.status, plan.reason, headers, payload, seed=resolution.seed,
                    key=resolution.counter or "(unmatched)", ordinal=resolution.ordinal,
                    max_hang=self.max_delay, time_scale=self.time_scale)
                if response is None:  # the fault took the connection; aiohttp's write is a no-op
                    response = web.Response(status=plan.status, reason=plan.reason)
            else:
                response = web.Response(status=plan.status, reason=plan.reason, headers=headers,
                                        body=payload or None)
                await response.prepare(request)
                await response.write_eof()
        except ConnectionResetError:
            entry.outcome = "client_gone"
            response = web.Response(status=plan.status, reason=plan.reason)
        entry.ended = time.time()
        self._after(entry)
        return response

    def _after(self, entry: Entry) -> None:
        for hook in self.exchange_hooks:
            try:
                hook(entry)
            except Exception:
                log.exception("exchange hook %r failed", hook)

    def _entry(self, snapshot: RequestSnapshot, resolution: Resolution, request_id: str, status: int,
               reason: str, outcome: str, arrived: float) -> Entry:
        return Entry(
            seq=self.journal.next_seq(), request_id=request_id, method=snapshot.method,
            path=snapshot.path, query_string=snapshot.raw_path.partition("?")[2],
            headers=snapshot.headers, body=snapshot.body, client=snapshot.client,
            session=resolution.session,
            rule=resolution.rule.id if resolution.rule is not None else None, status=status,
            reason=reason, outcome=outcome, delay=resolution.delay, deadline=resolution.deadline,
            arrived=arrived, near_misses=resolution.near_misses, decisions=resolution.decisions)




