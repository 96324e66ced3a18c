"""The pytest plugin: fixtures, the ``mockserver`` marker and strict mode.

Loaded through the ``pytest11`` entry point by every pytest run wherever mockserver is
installed, so importing it costs nothing beyond pytest: the server, aiohttp and pydantic are
imported when a test first asks for a fixture.

- ``mockserver``: the session's server, reset before each test, with the marker applied;
- ``mockserver_session``: that server, started once per session (per xdist worker), or the
  external one named by ``MOCKSERVER_URL`` (driven through its control API);
- ``mockserver_factory``: starts extra in-process servers, all closed at teardown;
- ``mockserver_scenarios``: override it to serve scenarios for the whole session.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import warnings
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .app.server import MockServer, ScenarioSource
    from .control.remote import RemoteMockServer
    from .journal import Entry, Filters, FiltersBesidesRule, FiltersBesidesStatus, JournalView
    from .scenario import Scenario

__all__ = ["MockServerFixture"]

URL_ENV = "MOCKSERVER_URL"
TOKEN_ENV = "MOCKSERVER_ADMIN_TOKEN"
MARKER_ARGS = ("fast", "scenario", "seed", "strict")
MARKER_HELP = (
    "mockserver(scenario=None, seed=None, strict=False, fast=None): serve scenario (a path, a dict "
    "or a list of them) for this test only; seed the delay draws; fail the test on unmatched "
    "requests or server errors (strict); multiply every delay by fast (e.g. 0.01)")


class MockServerFixture:
    """What the ``mockserver`` fixtures give a test: one surface over an in-process or remote server.

    Queries and assertions read the journal; ``server`` is the in-process MockServer (None when
    the fixtures drive an external server through ``remote``). Every call goes to ``controls``,
    the one control surface both implement; only undoing a test's changes differs (``_Undo``).
    """

    __test__ = False

    def __init__(self, backend: MockServer | RemoteMockServer) -> None:
        from .app.server import MockServer

        self.controls: MockServer | RemoteMockServer = backend
        self.server: MockServer | None = backend if isinstance(backend, MockServer) else None
        self.remote: RemoteMockServer | None = None if isinstance(backend, MockServer) else backend
        self._undo: _Undo = _InProcess(backend) if isinstance(backend, MockServer) else _External(backend)

    def __repr__(self) -> str:
        where = "in-process" if self.server is not None else "external"
        return f"<MockServerFixture {self.url} ({where})>"

    # --- addresses and serving -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.controls.url

    def url_for(self, path: str) -> str:
        return self.controls.url_for(path)

    def load(self, *sources: ScenarioSource) -> list[str]:
        """Add scenarios (replacing any of the same name) for this test; returns their names."""
        return self._undo.load(sources)

    def remove(self, name: str) -> bool:
        """Stop serving a scenario for this test (it comes back when the test ends)."""
        self._undo.changing_scenarios()
        return self.controls.remove(name)

    def reset(self, session: str | None = None) -> None:
        """Forget counters, states, the journal and the clock (the fixture does this before each test)."""
        self.controls.reset(session)

    def set_state(self, name: str, value: str, session: str = "") -> None:
        self.controls.set_state(name, value, session)

    def states(self, session: str = "") -> dict[str, str]:
        return self.controls.states(session)

    def resources(self, name: str, session: str = "") -> list[dict[str, Any]]:
        """A collection's items now (docs/resources.md)."""
        return self.controls.resources(name, session)

    def set_resources(self, name: str, items: list[Any], session: str = "") -> list[dict[str, Any]]:
        """Arrange a collection for this test (the fixture's reset brings the seed back)."""
        return self.controls.set_resources(name, items, session)

    def set_seed(self, seed: int | None) -> None:
        """Seed the delay draws (and chaos) for this test: the one spelling, as on MockServer,
        RemoteMockServer and the control API's ``POST /seed {"seed": N}``."""
        self._undo.seeded()
        self.controls.set_seed(seed)

    def seed(self, seed: int | None) -> None:
        """Deprecated spelling of set_seed (kept so existing tests keep working)."""
        warnings.warn("mockserver.seed(n) is deprecated; use mockserver.set_seed(n)", DeprecationWarning,
                      stacklevel=2)
        self.set_seed(seed)

    def advance(self, seconds: float) -> None:
        """Move the server's clock on (timelines, rate limits) without waiting."""
        self.controls.advance(seconds)

    @property
    def time_scale(self) -> float:
        """Every delay is multiplied by this (fast mode); an external server keeps its own."""
        return self.server.time_scale if self.server is not None else 1.0

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        if self.server is not None:
            self.server.time_scale = value

    # --- the journal -----------------------------------------------------------------------------

    @property
    def journal(self) -> JournalView:
        journal: JournalView = self.controls.journal
        return journal

    def entries(self, **filters: Unpack[Filters]) -> list[Entry]:
        """The requests that arrived and match every filter (rule, method, path, status, session, outcome)."""
        return self.journal.select(**filters)

    def count(self, **filters: Unpack[Filters]) -> int:
        return self.journal.count(**filters)

    def intervals(self, **filters: Unpack[Filters]) -> list[float]:
        """Seconds between consecutive arrivals of matching requests."""
        return self.journal.intervals(**filters)

    def wait_for(self, count: int = 1, *, timeout: float = 5.0, **filters: Unpack[Filters]) -> list[Entry]:
        """Block until *count* matching requests arrived (for clients running in the background)."""
        __tracebackhide__ = True
        return self.journal.wait_for(count, timeout=timeout, **filters)

    async def wait_for_async(self, count: int = 1, *, timeout: float = 5.0,
                             **filters: Unpack[Filters]) -> list[Entry]:
        """Like wait_for, for async tests: the event loop keeps running while it waits."""
        __tracebackhide__ = True
        return await self.journal.wait_for_async(count, timeout=timeout, **filters)

    # --- assertions ------------------------------------------------------------------------------

    def assert_called(self, rule: str | None = None, *, times: int | None = None, at_least: int | None = None,
                      at_most: int | None = None, **filters: Unpack[FiltersBesidesRule]) -> list[Entry]:
        """Check how many requests matched (at least one when no count is given); returns them."""
        __tracebackhide__ = True
        from .assertions import assert_called

        self._check_rule(rule)
        return assert_called(self.journal, rule, times=times, at_least=at_least, at_most=at_most, **filters)

    def assert_not_called(self, rule: str | None = None, **filters: Unpack[FiltersBesidesRule]) -> None:
        """Check that no request matched."""
        __tracebackhide__ = True
        from .assertions import assert_not_called

        self._check_rule(rule)
        assert_not_called(self.journal, rule, **filters)

    def assert_retry_after_honoured(self, rule: str | None = None, *, tolerance: float = 0.01,
                                    **filters: Unpack[FiltersBesidesRule]) -> None:
        """Check that every retry after an answer with Retry-After waited at least that long."""
        __tracebackhide__ = True
        from .assertions import assert_retry_after_honoured

        self._check_rule(rule)
        engine = self.server.engine if self.server is not None else None
        assert_retry_after_honoured(self.journal, rule, tolerance=tolerance, engine=engine, **filters)

    def assert_no_request_after(self, status: int = 200,
                                **filters: Unpack[FiltersBesidesStatus]) -> None:
        """Check that the client stopped at the first *status* answer."""
        __tracebackhide__ = True
        from .assertions import assert_no_request_after

        assert_no_request_after(self.journal, status, **filters)

    def _check_rule(self, rule: str | None) -> None:
        __tracebackhide__ = True
        if rule is None:
            return
        from .assertions import check_rule_known

        check_rule_known(rule, self.journal, self._undo.rule_ids())

    def check(self) -> None:
        """Fail if a request matched no rule or made the server fail (what strict mode runs)."""
        __tracebackhide__ = True
        from .assertions import check_strict

        check_strict(self.journal)

    # --- per-test lifecycle (the fixtures call these) --------------------------------------------

    def _begin(self, options: MarkerOptions) -> None:
        self.reset()
        if options.scenarios:
            self.load(*options.scenarios)
        if options.seed is not None:
            self.set_seed(options.seed)
        if options.fast is not None:
            self.time_scale = options.fast

    def _end(self) -> None:
        """Put back what the test changed, so the next test starts from the session's baseline."""
        self._undo.end()


class _Undo:
    """How a test's changes to the scenarios and the seed are put back: the one place where an
    in-process server (compiled scenarios at hand) and an external one (snapshots) differ."""

    def load(self, sources: Sequence[ScenarioSource]) -> list[str]:
        raise NotImplementedError

    def changing_scenarios(self) -> None:
        """Called before a test's change to the scenarios."""

    def seeded(self) -> None:
        """Called before a test seeds the server."""

    def rule_ids(self) -> list[str]:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError


class _InProcess(_Undo):
    """The session's baseline is kept as compiled scenarios; ``end`` swaps it back if it changed."""

    def __init__(self, server: MockServer) -> None:
        self.server = server
        self.baseline: tuple[Scenario, ...] = server.scenarios
        self.baseline_seed = server.seed
        self.baseline_scale = server.time_scale

    def load(self, sources: Sequence[ScenarioSource]) -> list[str]:
        return [s.name for s in self.server.load(*sources)]

    def rule_ids(self) -> list[str]:
        return [r.id for r in self.server.engine.rules]

    def end(self) -> None:
        server = self.server
        if server.scenarios is not self.baseline:
            server.replace(*self.baseline)
        if server.seed != self.baseline_seed:
            server.set_seed(self.baseline_seed)
        server.time_scale = self.baseline_scale


class _External(_Undo):
    """Before the first change, the server's scenario set is snapshotted, and restored at the end."""

    def __init__(self, remote: RemoteMockServer) -> None:
        self.remote = remote
        self.loaded: list[str] = []  # for servers without snapshots: names to remove
        self.snapshot: str | None = None  # the scenario set to restore after the test
        self.seeded_ = False

    def load(self, sources: Sequence[ScenarioSource]) -> list[str]:
        remote_sources = _remote_sources(sources)
        self.changing_scenarios()
        names = self.remote.load(*remote_sources)
        self.loaded.extend(names)
        return names

    def changing_scenarios(self) -> None:
        if self.snapshot is None:
            self.snapshot = _snapshot(self.remote)

    def seeded(self) -> None:
        self.seeded_ = True

    def rule_ids(self) -> list[str]:
        return [found for summary in self.remote.scenarios() for found in summary.get("rules", [])]

    def end(self) -> None:
        loaded, self.loaded = self.loaded, []
        snapshot, self.snapshot = self.snapshot, None
        if snapshot:
            self.remote.restore(snapshot)
        else:  # a server without snapshots: what the test loaded goes; what it removed stays removed
            for name in dict.fromkeys(loaded):
                self.remote.remove(name)
        if self.seeded_:
            self.seeded_ = False
            self.remote.set_seed(None)


def _snapshot(remote: RemoteMockServer) -> str:
    """A snapshot id, or "" when the server predates snapshots (POST /__mock/snapshots is not found)."""
    from .control.remote import ControlAPIError

    try:
        return remote.snapshot()
    except ControlAPIError as exc:
        if " answered 404: not_found:" in str(exc):
            return ""
        raise


def _remote_sources(sources: Sequence[ScenarioSource]) -> list[str | os.PathLike[str] | Mapping[str, Any]]:
    from .scenario import Scenario

    out: list[str | os.PathLike[str] | Mapping[str, Any]] = []
    for source in sources:
        if isinstance(source, Scenario):
            raise TypeError(f"a loaded Scenario ({source.name!r}) cannot be sent to an external "
                            "mockserver; pass its file or dict")
        out.append(source)
    return out


@dataclass(frozen=True, slots=True)
class MarkerOptions:
    """The ``@pytest.mark.mockserver(...)`` arguments of one test, checked."""

    scenarios: list[ScenarioSource]
    seed: int | None
    strict: bool
    fast: float | None

    @classmethod
    def of(cls, item: pytest.Item, default_strict: bool) -> MarkerOptions:
        merged: dict[str, Any] = {}
        for marker in item.iter_markers("mockserver"):  # closest first: a test's own marker wins
            if marker.args:
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.mockserver takes keyword arguments only; "
                    f"pass scenarios as scenario=... (found {len(marker.args)} positional)")
            for key, value in marker.kwargs.items():
                if key not in MARKER_ARGS:
                    close = difflib.get_close_matches(key, MARKER_ARGS, 1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise pytest.UsageError(
                        f"{item.nodeid}: @pytest.mark.mockserver got unknown argument {key!r}{hint}; "
                        f"valid arguments: {', '.join(MARKER_ARGS)}")
                merged.setdefault(key, value)
        fast = merged.get("fast")
        if fast is not None and (isinstance(fast, bool) or not isinstance(fast, int | float) or fast < 0):
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.mockserver(fast={fast!r}): expected a "
                                    "factor such as 0.01 that every delay is multiplied by")
        seed = merged.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.mockserver(seed={seed!r}): expected an integer")
        strict = merged.get("strict")
        return cls(_resolve(merged.get("scenario"), item), seed,
                   default_strict if strict is None else bool(strict),
                   None if fast is None else float(fast))


def _resolve(scenario: Any, item: pytest.Item) -> list[ScenarioSource]:
    """Scenario paths are taken relative to the test file's folder, then to the rootdir."""
    return _resolve_in(scenario, (item.path.parent, item.config.rootpath))


def _resolve_in(scenario: Any, bases: Sequence[Path]) -> list[ScenarioSource]:
    if scenario is None:
        return []
    sources = list(scenario) if isinstance(scenario, list | tuple) else [scenario]
    out: list[ScenarioSource] = []
    for source in sources:
        found: ScenarioSource = source
        if isinstance(source, str | os.PathLike) and not Path(source).is_absolute():
            found = next((base / source for base in bases if (base / source).exists()), source)
        out.append(found)
    return out


# --- hooks ---------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockserver", "mockserver HTTP test double")
    group.addoption("--mockserver-fast", type=float, default=None, metavar="FACTOR",
                    help="multiply every mockserver delay by FACTOR, e.g. 0.01 (a marker's fast= wins)")
    group.addoption("--mockserver-strict", action="store_true", default=False,
                    help="fail every test whose mockserver saw an unmatched request or failed")
    group.addoption("--mockserver-url", default=None, metavar="URL",
                    help=f"drive the external mockserver at URL through its control API instead of "
                         f"starting one (default: ${URL_ENV})")
    group.addoption("--mockserver-report", default=None, metavar="DIR",
                    help="write an HTML report of a failed test's mockserver traffic into DIR")
    group.addoption("--mockserver-record-mode", default=None, choices=("none", "once", "new_episodes", "all"),
                    help="tests marked mockserver_record: none replays (the default; "
                         "$MOCKSERVER_RECORD_MODE), once records a missing recording, new_episodes adds "
                         "what matched nothing, all records again")
    group.addoption("--mockserver-upstream", default=None, metavar="URL",
                    help="where tests marked mockserver_record record from (a marker's upstream= wins; "
                         "default: $MOCKSERVER_UPSTREAM)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    from .pytest_record import RECORD_HELP

    config.addinivalue_line("markers", RECORD_HELP)


_HANDLES = pytest.StashKey[list[tuple[MockServerFixture, bool]]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Strict mode: a test that passed still fails if its servers saw unmatched requests or errors."""
    result = yield
    for handle, strict in item.stash.get(_HANDLES, []):
        if strict:
            from .assertions import MockAssertionError

            try:
                handle.check()
            except MockAssertionError as exc:
                message = str(exc)
            else:
                continue
            pytest.fail(message, pytrace=False)  # the message is the story; our frames are noise
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, show what each server the test used saw on the wire."""
    report = yield
    handles = item.stash.get(_HANDLES, [])
    if not (report.failed and call.when == "call" and handles):
        return report  # the common case stays free of our imports
    from .assertions import MockAssertionError
    from .journal import format_entries

    folder = item.config.getoption("mockserver_report")
    if folder:  # the same timeline and log as the dashboard, in one file (docs/dashboard.md)
        from .dashboard.report import write_test_reports

        report.sections.append(("mockserver report", "\n".join(
            write_test_reports(folder, item.nodeid, [h for h, _ in handles]))))
    if call.excinfo is not None and call.excinfo.errisinstance(MockAssertionError):
        return report  # our assertion's message already lists the requests
    for number, (handle, _) in enumerate(handles):
        try:
            entries = handle.journal.select()
        except Exception as exc:  # an external server that went away must not hide the failure
            text = f"(could not read the journal: {exc})"
        else:
            text = format_entries(entries)
        title = "mockserver journal" + (f" ({handle.url})" if number else "")
        report.sections.append((title, text))
    return report


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mockserver_scenarios() -> list[ScenarioSource]:
    """What the session's server serves in every test; override it in a conftest.py.

    Files, folders (relative to the rootdir) or dicts.
    """
    return []


@pytest.fixture(scope="session")
def mockserver_session(pytestconfig: pytest.Config,
                       mockserver_scenarios: list[ScenarioSource]) -> Iterator[MockServerFixture]:
    """The session's server: in-process on 127.0.0.1 (one per xdist worker), or $MOCKSERVER_URL's."""
    mockserver_scenarios = _resolve_in(mockserver_scenarios, (pytestconfig.rootpath,))
    url = pytestconfig.getoption("mockserver_url") or os.environ.get(URL_ENV)
    if url:
        from .control.remote import ControlAPIError, RemoteMockServer

        remote = RemoteMockServer(url, token=os.environ.get(TOKEN_ENV) or None)
        try:
            remote.health()
            snapshot = _snapshot(remote)
            names = remote.load(*_remote_sources(mockserver_scenarios))
        except (ControlAPIError, OSError, ValueError, TypeError) as exc:
            _fail(f"{URL_ENV}={url}: the mockserver there is not usable: {exc}")
        try:
            yield MockServerFixture(remote)
        finally:  # leave the server as the session found it
            if snapshot:
                remote.restore(snapshot)
            else:
                for name in names:
                    remote.remove(name)
        return
    from .app.server import MockServer

    fast = pytestconfig.getoption("mockserver_fast")
    server = MockServer(mockserver_scenarios, time_scale=1.0 if fast is None else fast)
    server.start_in_thread()
    try:
        yield MockServerFixture(server)
    finally:
        server.stop_thread()


def _fail(message: str) -> NoReturn:
    """Fail the test with one line: the plugin's own frames say nothing to its user."""
    __tracebackhide__ = True
    raise pytest.fail.Exception(message, pytrace=False) from None  # nor the exception it replaces


def _marker_options(request: pytest.FixtureRequest) -> MarkerOptions:
    try:
        return MarkerOptions.of(request.node, request.config.getoption("mockserver_strict"))
    except pytest.UsageError as exc:
        _fail(str(exc))


@contextlib.contextmanager
def _plainly() -> Iterator[None]:
    """A control call that fails (the server went away, refused a scenario) fails the test in one line."""
    from .errors import MockServerError

    try:
        yield
    except (MockServerError, TypeError) as exc:
        _fail(f"mockserver: {exc}" if not isinstance(exc, TypeError) else f"TypeError: {exc}")


@pytest.fixture
def mockserver(request: pytest.FixtureRequest,
               mockserver_session: MockServerFixture) -> Iterator[MockServerFixture]:
    """The session's server, reset for this test, with this test's marker applied."""
    options = _marker_options(request)
    if request.node.get_closest_marker("mockserver_record") is not None:  # docs/recording.md
        from .pytest_record import RecordPlan

        try:
            plan = RecordPlan.of(request.node, os.environ)
            if plan.records:
                plan.need_upstream()
            else:
                options = plan.replay_options(options)
        except pytest.UsageError as exc:
            _fail(str(exc))
        if plan.records:  # a server of the test's own, forwarding; the file is written after it
            fast = options.fast if options.fast is not None else request.config.getoption("mockserver_fast")
            with plan.record(options, fast) as handle:
                request.node.stash.setdefault(_HANDLES, []).append((handle, options.strict))
                yield handle
            return
    request.node.stash.setdefault(_HANDLES, []).append((mockserver_session, options.strict))
    try:
        with _plainly():
            mockserver_session._begin(options)
        yield mockserver_session
    finally:
        with _plainly():
            mockserver_session._end()


@pytest.fixture
def mockserver_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., MockServerFixture]]:
    """Start extra in-process servers: ``mockserver_factory("b.yaml", {...}, strict=True, seed=1)``.

    Keyword arguments go to MockServer; the test's marker (or the command line) gives the
    defaults for strict and fast. All servers are closed when the test ends.
    """
    from .app.server import MockServer

    started: list[MockServer] = []
    options = _marker_options(request)
    fast = options.fast if options.fast is not None else request.config.getoption("mockserver_fast")

    def start(*scenarios: ScenarioSource, strict: bool | None = None, **kwargs: Any) -> MockServerFixture:
        kwargs.setdefault("time_scale", 1.0 if fast is None else fast)
        sources = [s for source in scenarios for s in _resolve(source, request.node)]
        server = MockServer(sources, **kwargs)
        server.start_in_thread()
        started.append(server)
        handle = MockServerFixture(server)
        request.node.stash.setdefault(_HANDLES, []).append(
            (handle, options.strict if strict is None else strict))
        return handle

    try:
        yield start
    finally:
        for server in started:
            server.stop_thread()
