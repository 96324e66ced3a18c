"""The control API: ``/__mock/...`` on the serving port, so tests in any language drive the mock.

The server hands every request under ``PREFIX`` to ``ControlApi.dispatch``, which serves it from
the table in ``ControlApi.routes``, so that authentication, the error table and the OpenAPI
document are each decided in one place. Every
failure answers ``{"error": "<code>", "detail": "..."}`` with the status that ``ERRORS`` gives the
code, never a traceback; a rejected call changes nothing. Control requests are not journaled, are
not counted in the metrics and are never logged with their headers, so a token stays private.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from aiohttp import web

from ..backend import StateBackend, StateUnavailable
from ..controls import Controls
from ..errors import Problem, ScenarioError
from ..journal import Entry, Outcome, json_safe
from ..scenario import MAX_SCENARIO_BYTES, Scenario, duplicate_names, load_document
from ..scenario.source import Document, parse_document
from .metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from ..record.live import LiveRecording

__all__ = ["ERRORS", "PREFIX", "ROUTES", "ApiError", "ControlApi", "ControlSettings", "ControlTarget",
           "RouteSpec",
           "openapi_document"]

_T = TypeVar("_T")

PREFIX = "/__mock"
#: the largest control-API body: a scenario's limit (the serving port's --max-body is far larger)
MAX_CONTROL_BODY = MAX_SCENARIO_BYTES
MAX_SNAPSHOTS = 64  # kept scenario snapshots; the oldest goes first
# one control plane (wire/redis_control.py, which names the same header): a call replayed from
# another replica, applied here and not sent on; a replayed snapshot keeps the caller's id
REPLAYED = "X-Mock-Replayed"
SNAPSHOT_ID = "X-Mock-Snapshot-Id"
# what Redis already holds for every replica: calls on these (and on /resources/...) are not replayed
_BODY = web.RequestKey("mockserver.control_body", bytes)  # the body a handler read, for the replay
_SHARED_ALREADY = frozenset({"/journal", "/state", "/clock/advance"})
BODY_SOURCE = "<body>"  # the "file" that problems in a request body are reported against
log = logging.getLogger("mockserver.admin")

# code -> (HTTP status, what it means); every error the control API gives comes from here
ERRORS: dict[str, tuple[int, str]] = {
    "bad_request": (400, "the request is malformed: a query parameter or the JSON body is not valid"),
    "unauthorized": (401, "the control API needs the header Authorization: Bearer <token>"),
    "not_found": (404, "no such control endpoint"),
    "unknown_scenario": (404, "no scenario is loaded under that name"),
    "unknown_fault": (404, "no runtime fault has that name"),
    "unknown_collection": (404, "no loaded scenario declares a collection of that name"),
    "unknown_snapshot": (404, "no snapshot has that id (restored already, or one of the oldest dropped)"),
    "method_not_allowed": (405, "the endpoint exists but not with this method"),
    "payload_too_large": (413, "the request body is too large"),
    "invalid_scenario": (422, "the scenario is not valid; nothing was changed"),
    "invalid_fault": (422, "the fault spec is not valid; nothing was changed"),
    "internal_error": (500, "the control API failed; this is a bug in mockserver"),
    "state_unavailable": (503, "the state backend (--state) could not be reached; nothing was changed there"),
    "not_recording": (409, "this server is not recording (start it with `mockserver record`)"),
    "save_failed": (507, "the recording could not be written to its file; what was captured is kept"),
}


class ApiError(Exception):
    """A control call that fails with one of the ``ERRORS`` codes."""

    def __init__(self, code: str, detail: str, *, problems: list[str] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.problems = problems
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        status, _ = ERRORS[self.code]
        body: dict[str, Any] = {"error": self.code, "detail": self.detail}
        if self.problems is not None:
            body["problems"] = self.problems
        return web.json_response(body, status=status, headers=self.headers)


Handler = Callable[[web.BaseRequest, dict[str, str]], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # relative to PREFIX; {name} takes one path segment
    handler: Handler
    regex: re.Pattern[str]


class ControlTarget(Controls, Protocol):
    """What the control API drives: the one control surface, plus what health and metrics show.

    The composed ``MockServer`` (app/server.py) implements it; the API never sees the server's insides.
    """

    reload_error: str | None  # the file watcher's last problem (control/reload.py), or None
    shared_state: StateBackend | None  # --state redis://...: what every replica shares, or None
    backend: StateBackend  # where the state lives (memory, or shared_state); health asks it

    async def resources_async(self, name: str, session: str = "") -> list[dict[str, Any]]: ...
    async def set_resources_async(self, name: str, items: list[Any],
                                  session: str = "") -> list[dict[str, Any]]: ...

    @property
    def scenarios(self) -> tuple[Scenario, ...]: ...
    @property
    def seed(self) -> int | None: ...
    def now(self) -> float: ...  # the mock clock, after advance()
    def metrics_text(self) -> str: ...  # the Prometheus exposition of /__mock/metrics


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """How the control API guards itself: the settings of ServerConfig it reads, and no more."""

    admin_token: str | None = None  # with a token, every control call needs Authorization: Bearer
    public_health: bool = False  # leave GET /__mock/health open even with a token
    max_body_size: int = 16 * 1024 * 1024  # the serving port's limit; control bodies stay under it


class ControlApi:
    """The handlers, bound to one control target."""

    def __init__(self, server: ControlTarget, settings: ControlSettings,
                 extra_routes: Sequence[tuple[str, str, Handler]] = ()) -> None:
        self.server = server
        self.settings = settings
        # the routes the OpenAPI document describes (ROUTES), then the dashboard's
        table: list[tuple[str, str, Handler]] = [(r.method, r.path, partial(r.handler, self)) for r in ROUTES]
        table.extend(extra_routes)  # the dashboard's /__mock/ui pages (docs/dashboard.md)
        self.routes = [Route(m, p, h, _compile(p)) for m, p, h in table]
        # the scenario sets that clients (the pytest plugin, per test) asked to come back to
        self._snapshots: OrderedDict[str, tuple[Scenario, ...]] = OrderedDict()
        self._snapshot_ids = itertools.count(1)

    # --- dispatch --------------------------------------------------------------------------------

    async def dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            path = request.path[len(PREFIX):] or "/"
            if not (path == "/health" and self.settings.public_health):
                self._authorize(request)
            allowed: list[str] = []
            for route in self.routes:
                found = route.regex.fullmatch(path)
                if found is None:
                    continue
                if route.method == request.method:
                    response = await route.handler(request, found.groupdict())
                    return await self._replicate(request, path, response)
                allowed.append(route.method)
            if allowed:
                raise ApiError("method_not_allowed",
                               f"{request.method} {PREFIX}{path}: allowed methods are {', '.join(allowed)}",
                               headers={"Allow": ", ".join(allowed)})
            known = ", ".join(sorted({f"{PREFIX}{r.path}" for r in self.routes}))
            raise ApiError("not_found", f"no control endpoint {PREFIX}{path}; endpoints: {known}")
        except ApiError as exc:
            response = exc.response()
            if exc.code == "payload_too_large":
                response.force_close()  # Connection: close: the rest of the body is not awaited
            return response
        except web.HTTPRequestEntityTooLarge:
            return ApiError("payload_too_large",
                            f"the body is larger than {self.settings.max_body_size} bytes").response()
        except Exception as exc:
            log.exception("control API failed on %s %s", request.method, request.path)
            return ApiError("internal_error", f"{type(exc).__name__}: {exc}").response()

    async def _replicate(self, request: web.BaseRequest, path: str,
                         response: web.StreamResponse) -> web.StreamResponse:
        """With --state redis://, replay a call that changed this replica on every other one and
        wait for them (wire/redis_control.py; docs/scale-out.md). Calls on what Redis already holds
        for all (the journal, named states, the clock) and reads are not replayed."""
        replicator = getattr(self.server, "replicator", None)
        if (replicator is None or request.method in ("GET", "HEAD") or REPLAYED in request.headers
                or response.status >= 300 or path in _SHARED_ALREADY
                or path.startswith(("/ui", "/resources/"))):
            return response
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        if path == "/snapshots" and isinstance(response, web.Response) and isinstance(response.body, bytes):
            headers[SNAPSHOT_ID] = json.loads(response.body)["snapshot"]  # the same id on every replica
        response.headers["X-Mock-Replicas"] = await replicator.publish(
            request.method, request.path_qs, request.get(_BODY, b""), headers)
        return response

    @property
    def _body_limit(self) -> int:
        """A control body is a scenario at most, and never more than the serving port takes."""
        return min(MAX_CONTROL_BODY, self.settings.max_body_size)

    def _authorize(self, request: web.BaseRequest) -> None:
        token = self.settings.admin_token
        if token is None:
            return
        given = request.headers.get("Authorization", "")
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode()):
            return
        if request.path.startswith(f"{PREFIX}/ui") and "token" in request.query:  # a browser: ?token=T
            if hmac.compare_digest(request.query["token"].encode(), token.encode()):
                return
            given = "?token="
        # the reason, never the token (neither the expected one nor the one given)
        reason = ("no Authorization header" if not given else
                  "the token is not the one configured" if given == "?token=" else
                  "the bearer token is not the one configured")
        if request.path.startswith(f"{PREFIX}/ui"):
            raise ApiError("unauthorized", f"{reason}; open {PREFIX}/ui?token=<token> "
                                           "or send Authorization: Bearer <token>",
                           headers={"WWW-Authenticate": 'Bearer realm="mockserver"'})
        raise ApiError("unauthorized", f"{reason}; send Authorization: Bearer <token>",
                       headers={"WWW-Authenticate": 'Bearer realm="mockserver"'})

    # --- health, scenarios ------------------------------------------------------------------------

    async def health(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        scenarios = self.server.scenarios
        return web.json_response({
            "status": "ok", "scenarios": len(scenarios), "rules": sum(len(s.rules) for s in scenarios),
            "reload_error": self.server.reload_error,
            "state": await self.server.backend.healthy(),
            "pid": os.getpid(),  # which process answered: one of `serve --workers N`'s, or a replica's
        })

    async def list_scenarios(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        return web.json_response([_summary(s) for s in self.server.scenarios])

    async def add_scenario(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        doc = await self._scenario_document(request)
        if isinstance(doc.data, list):
            raise _invalid([doc.problem((), "found a list; expected one scenario "
                                             "(PUT /__mock/scenarios replaces all with a list)")])
        try:
            scenario = load_document(doc, folder=None)
        except ScenarioError as exc:
            raise _invalid(list(exc.problems)) from None
        existed = any(s.name == scenario.name for s in self.server.scenarios)
        self.server.load(scenario)
        return web.json_response(_summary(scenario), status=200 if existed else 201)

    async def replace_scenarios(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        doc = await self._scenario_document(request)
        docs = [doc] if not isinstance(doc.data, list) else [
            Document(f"{doc.source}[{i}]", item,
                     {key[1:]: mark for key, mark in doc.marks.items() if key[:1] == (i,)})
            for i, item in enumerate(doc.data)]
        scenarios: list[Scenario] = []
        problems: list[Problem] = []
        for part in docs:
            try:
                scenarios.append(load_document(part, folder=None))
            except ScenarioError as exc:  # every item is checked, so one answer lists every problem
                problems.extend(exc.problems)
        problems.extend(duplicate_names(scenarios))
        if problems:
            raise _invalid(problems)
        self.server.replace(*scenarios)
        return web.json_response([_summary(s) for s in scenarios])

    async def delete_scenario(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        name = params["name"]
        if not self.server.remove(name):
            loaded = ", ".join(repr(s.name) for s in self.server.scenarios) or "none"
            raise ApiError("unknown_scenario", f"no scenario named {name!r}; loaded: {loaded}")
        return web.json_response({"removed": name})

    async def take_snapshot(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        """Remember the scenarios served now (compiled, body files and all) under a new id."""
        scenarios = self.server.scenarios
        snapshot = request.headers.get(SNAPSHOT_ID, "") if REPLAYED in request.headers else ""
        snapshot = snapshot or f"s{next(self._snapshot_ids)}"
        self._snapshots[snapshot] = scenarios
        while len(self._snapshots) > MAX_SNAPSHOTS:  # a client that died never restores its own
            self._snapshots.popitem(last=False)
        return web.json_response({"snapshot": snapshot, "scenarios": [s.name for s in scenarios]},
                                 status=201)

    async def restore_snapshot(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        """Serve exactly the snapshot's scenarios again; the snapshot is used up."""
        snapshot = params["id"]
        scenarios = self._snapshots.pop(snapshot, None)
        if scenarios is None:
            kept = ", ".join(self._snapshots) or "none"
            raise ApiError("unknown_snapshot", f"no snapshot {snapshot!r}; kept: {kept}")
        if scenarios != self.server.scenarios:
            self.server.replace(*scenarios)
        return web.json_response({"restored": snapshot, "scenarios": [s.name for s in scenarios]})

    async def _scenario_document(self, request: web.BaseRequest) -> Document:
        raw = await _read_body(request, self._body_limit)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _invalid([Problem(BODY_SOURCE, None, None, "(document)",
                                    f"found bytes that are not UTF-8 ({exc.reason}); expected UTF-8 text")]
                           ) from None
        if "json" in request.content_type:
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                raise _invalid([Problem(BODY_SOURCE, exc.lineno, exc.colno, "(document)",
                                        f"invalid JSON: {exc.msg}; expected a JSON scenario")]) from None
        try:
            # YAML is a superset of JSON, and this parser remembers where every node came from
            return parse_document(text, BODY_SOURCE)
        except ScenarioError as exc:
            raise _invalid(list(exc.problems)) from None

    # --- state, reset, journal, seed, clock --------------------------------------------------------

    async def reset(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        query = _query(request, {"session"})
        session = query.get("session")
        self.server.reset(session)
        if REPLAYED not in request.headers:  # the replica that took the call reset Redis already
            await self._shared(lambda b: b.reset(session, clock=session is None))
        await self._journal_sent()
        return web.json_response({"reset": True, "session": session})

    async def _journal_sent(self) -> None:
        """With a shared journal, return once its clear marker is in Redis (docs/scale-out.md)."""
        shared = getattr(self.server, "shared_journal", None)
        if shared is not None:
            await shared.settle()

    async def _shared(self, call: Callable[[StateBackend], Awaitable[_T]]) -> _T | None:
        """Run *call* on the shared state backend (--state redis://...), if there is one."""
        backend = self.server.shared_state
        if backend is None:
            return None
        try:
            return await call(backend)
        except StateUnavailable as exc:
            raise ApiError("state_unavailable", str(exc)) from None

    async def _states(self, session: str) -> dict[str, str]:
        found = await self._shared(lambda b: b.states(session))
        return found if found is not None else self.server.states(session)

    async def get_state(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        session = _query(request, {"session"}).get("session", "")
        return web.json_response({"states": await self._states(session)})

    async def put_state(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        body = await _json_object(request, self._body_limit, required={"name": str, "value": str},
                                  optional={"session": str})
        session = body.get("session", "")
        if not body["name"]:
            raise ApiError("bad_request", "name: found ''; expected a state name")
        if self.server.shared_state is None:
            self.server.set_state(body["name"], body["value"], session)
        await self._shared(lambda b: b.set_state(body["name"], body["value"], session))
        return web.json_response({"states": await self._states(session)})

    async def get_resources(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        session = _query(request, {"session"}).get("session", "")
        try:
            items = await self.server.resources_async(params["name"], session)
        except KeyError as exc:
            raise ApiError("unknown_collection", str(exc.args[0])) from None
        except StateUnavailable as exc:
            raise ApiError("state_unavailable", str(exc)) from None
        return web.json_response({"name": params["name"], "session": session, "items": items})

    async def put_resources(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        body = await _json_object(request, self._body_limit, required={"items": list},
                                  optional={"session": str})
        session = body.get("session", "")
        try:
            items = await self.server.set_resources_async(params["name"], body["items"], session)
        except KeyError as exc:
            raise ApiError("unknown_collection", str(exc.args[0])) from None
        except ValueError as exc:
            raise ApiError("bad_request", str(exc)) from None
        except StateUnavailable as exc:
            raise ApiError("state_unavailable", str(exc)) from None
        return web.json_response({"name": params["name"], "session": session, "items": items})

    async def get_journal(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        valid = {"rule", "method", "path", "status", "session", "outcome", "fault", "header", "body",
                 "limit"}
        _query(request, valid)
        query = request.query
        statuses = {_int(v, "status", 100, 999) for v in query.getall("status", [])}
        outcomes = set(query.getall("outcome", []))
        faults = set(query.getall("fault", []))
        headers = [_header_filter(v) for v in query.getall("header", [])]
        limit = _int(query["limit"], "limit", 0, None) if "limit" in query else None
        rule, method = query.get("rule"), query.get("method", "").upper()
        path, session = query.get("path"), query.get("session")
        body = query["body"].encode() if "body" in query else None

        def keep(e: Entry) -> bool:
            return ((rule is None or e.rule == rule or (e.rule or "").partition("/")[2] == rule)
                    and (not method or e.method.upper() == method)
                    and (path is None or e.path == path)
                    and (not statuses or e.status in statuses)
                    and (session is None or e.session == session)
                    and (not outcomes or e.outcome in outcomes)
                    and (not faults or e.fault in faults)
                    and (body is None or body in e.body)
                    and all(_has_header(e, name, value) for name, value in headers))

        entries = [e for e in self.server.journal.entries() if keep(e)]
        count = len(entries)  # of all that match, so that limit=0 counts without sending entries
        if limit is not None:
            entries = entries[count - limit:] if limit else []
        return web.json_response({"entries": [e.as_dict() for e in entries], "count": count},
                                 dumps=_dumps)

    async def delete_journal(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        self.server.clear_journal()
        await self._journal_sent()
        return web.json_response({"cleared": True})

    # --- recording (mockserver record, docs/recording.md) ------------------------------------------

    def _recording(self) -> LiveRecording:
        recording = getattr(self.server, "recording", None)
        if recording is None:
            raise ApiError("not_recording", "this server is not recording: start it with "
                           "`mockserver record --target URL --out FILE.yaml`")
        return cast("LiveRecording", recording)

    async def get_recording(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        return web.json_response(self._recording().summary(), dumps=_dumps)

    async def save_recording(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        recording = self._recording()
        try:
            written = recording.save()
        except OSError as exc:
            raise ApiError("save_failed", f"{recording.out}: cannot write it ({exc.strerror or exc}); "
                           "the captured exchanges are kept, and the next save tries again") from None
        return web.json_response({"saved": str(recording.out), "files": [str(p) for p in written],
                                  "exchanges": recording.saved})

    async def set_seed(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        body = await _json_object(request, self._body_limit, required={"seed": (int, type(None))})
        self.server.set_seed(body["seed"])
        return web.json_response({"seed": self.server.seed})

    async def advance_clock(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        body = await _json_object(request, self._body_limit, required={"seconds": (int, float)})
        seconds = float(body["seconds"])
        if not 0 <= seconds < 1e12:  # also refuses NaN
            raise ApiError("bad_request", f"seconds: found {body['seconds']!r}; "
                                          "expected a number of seconds >= 0 (the clock only moves forward)")
        now = await self._shared(lambda b: b.advance(seconds))
        if now is None:
            self.server.advance(seconds)
            now = self.server.now()
        return web.json_response({"now": now})

    # --- faults (the server's runtime fault registry) ---------------------------------------------

    async def list_faults(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        return web.json_response(self.server.list_faults(), dumps=_dumps)

    async def add_fault(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        body = await _json_object(request, self._body_limit)
        try:
            fault = self.server.add_fault(body)
        except ScenarioError as exc:
            lines = [str(p) for p in exc.problems]
            raise ApiError("invalid_fault", "\n".join(lines), problems=lines) from None
        return web.json_response(fault, status=201, dumps=_dumps)

    async def delete_fault(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        name = params["name"]
        if not self.server.remove_fault(name):
            active = ", ".join(repr(f.get("name")) for f in self.server.list_faults()) or "none"
            raise ApiError("unknown_fault", f"no runtime fault named {name!r}; active: {active}")
        return web.json_response({"removed": name})

    # --- metrics, openapi --------------------------------------------------------------------------

    async def metrics(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        text = self.server.metrics_text()
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    async def openapi(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        return web.json_response(openapi_document(secured=self.settings.admin_token is not None,
                                          public_health=self.settings.public_health))


# --- helpers -------------------------------------------------------------------------------------


async def _read_body(request: web.BaseRequest, limit: int) -> bytes:
    """The body, refused from Content-Length before a byte is read, and bounded while reading a chunked one.

    Reading first and measuring after would let one call hold the serving port's whole --max-body
    (16 MiB by default) in memory, and make a client that announces a huge body and sends
    nothing wait for an answer that never comes.
    """
    length = request.content_length
    if length is not None and length > limit:
        raise ApiError("payload_too_large", f"Content-Length: found {length} bytes; "
                                            f"expected a control-API body of at most {limit}")
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.read(65536):
        size += len(chunk)
        if size > limit:
            raise ApiError("payload_too_large",
                           f"found more than {limit} bytes; expected a control-API body of at most {limit}")
        parts.append(chunk)
    body = request[_BODY] = b"".join(parts)  # kept for the replay on the other replicas
    return body


def _compile(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)))


def _summary(scenario: Scenario) -> dict[str, Any]:
    return {"name": scenario.name, "source": scenario.source, "rules": [r.id for r in scenario.rules]}


def _invalid(problems: list[Problem]) -> ApiError:
    lines = [str(p) for p in problems]
    return ApiError("invalid_scenario", "\n".join(lines), problems=lines)


def _query(request: web.BaseRequest, valid: set[str]) -> dict[str, str]:
    unknown = sorted(set(request.query) - valid)
    if unknown:
        raise ApiError("bad_request", f"unknown query parameter {unknown[0]!r}; "
                                      f"valid: {', '.join(sorted(valid)) or 'none'}")
    return {k: request.query[k] for k in request.query}


def _header_filter(value: str) -> tuple[str, str | None]:
    """``header=NAME`` (present) or ``header=NAME:VALUE`` (one of its values is VALUE)."""
    name, colon, wanted = value.partition(":")
    name = name.strip()
    if not name or any(c in name for c in " \t"):
        raise ApiError("bad_request", f"header: found {value!r}; expected NAME or NAME:VALUE "
                                      "(such as header=X-Request-Id or header=Accept:application/json)")
    return name, wanted.strip() if colon else None


def _has_header(entry: Entry, name: str, value: str | None) -> bool:
    lower = name.lower()
    found = [v for k, v in entry.header_pairs() if k.lower() == lower]
    return bool(found) if value is None else value in found


def _int(value: str, name: str, low: int, high: int | None) -> int:
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < low or (high is not None and number > high):
        upper = f" and <= {high}" if high is not None else ""
        raise ApiError("bad_request", f"{name}: found {value!r}; expected an integer >= {low}{upper}")
    return number


def _kind(types: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", type(None): "null", bool: "true or false"}
    items = types if isinstance(types, tuple) else (types,)
    if set(items) == {int, float}:
        return "a number"
    return " or ".join(names.get(t, t.__name__) for t in items)


async def _json_object(request: web.BaseRequest, limit: int, *,
                       required: Mapping[str, type | tuple[type, ...]] | None = None,
                       optional: Mapping[str, type | tuple[type, ...]] | None = None) -> dict[str, Any]:
    """The body as a JSON object with exactly these fields (any Content-Type: curl -d sends a form one)."""
    raw = await _read_body(request, limit)
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except UnicodeDecodeError:
        raise ApiError("bad_request", "the body is not UTF-8; expected a JSON object") from None
    except json.JSONDecodeError as exc:
        raise ApiError("bad_request", f"the body is not JSON ({exc.msg} at line {exc.lineno} "
                                      f"column {exc.colno}); expected a JSON object") from None
    if not isinstance(data, dict):
        found = "an empty body" if data is None else f"JSON {type(data).__name__}"
        raise ApiError("bad_request", f"found {found}; expected a JSON object")
    if required is None and optional is None:
        return data
    fields = {**(required or {}), **(optional or {})}
    for name in data:
        if name not in fields:
            raise ApiError("bad_request", f"{name}: unknown field; valid fields: {', '.join(sorted(fields))}")
    for name in required or {}:
        if name not in data:
            raise ApiError("bad_request", f"{name}: missing; expected {_kind(fields[name])}")
    for name, value in data.items():
        types = fields[name]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in
                                                (types if isinstance(types, tuple) else (types,)))
        if not ok:
            raise ApiError("bad_request", f"{name}: found {json.dumps(value)}; expected {_kind(types)}")
    return data


def _dumps(value: Any) -> str:
    # JSON has no Infinity or NaN: such floats (an unbounded delay, say) are sent as null
    return json.dumps(json_safe(value))


# --- the OpenAPI document --------------------------------------------------------------------------

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(schema: dict[str, Any], media: str = _JSON) -> dict[str, Any]:
    return {"content": {media: {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        status, meaning = ERRORS[code]
        described = out.setdefault(str(status), {"description": "", **_content(_ref("Error"))})
        described["description"] = "; ".join(x for x in (described["description"], f"{code}: {meaning}") if x)
    return out


def _operation(summary: str, ok: dict[str, Any], *errors: str, body: dict[str, Any] | None = None,
               parameters: list[dict[str, Any]] | None = None, secured: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**ok, **_errors(
        *(("unauthorized",) if secured else ()), *errors, "internal_error")}}
    if body is not None:
        op["requestBody"] = {"required": True, **body}
    if parameters:
        op["parameters"] = parameters
    if not secured:
        op["security"] = []
    return op


def _param(name: str, schema: dict[str, Any], text: str, where: str = "query",
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": text}


def _ok(text: str, schema: dict[str, Any], status: str = "200", media: str = _JSON) -> dict[str, Any]:
    return {status: {"description": text, **_content(schema, media)}}


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "enum": sorted(ERRORS)},
            "detail": {"type": "string"},
            "problems": {"type": "array", "items": {"type": "string"},
                         "description": "file:line:col: field: found ...; expected ... (one per problem)"},
        },
    },
    "Health": {
        "type": "object", "required": ["status", "scenarios", "rules", "reload_error"],
        "properties": {"status": {"const": "ok"}, "scenarios": {"type": "integer", "minimum": 0},
                       "rules": {"type": "integer", "minimum": 0},
                       "reload_error": {"type": ["string", "null"]},
                       "state": {"type": ["string", "null"]}},
    },
    "ScenarioSummary": {
        "type": "object", "required": ["name", "source", "rules"],
        "properties": {"name": {"type": "string"}, "source": {"type": "string"},
                       "rules": {"type": "array", "items": {"type": "string"}}},
    },
    "Scenario": {
        "type": "object", "required": ["name", "rules"],
        "description": "A scenario as in a scenario file (`mockserver schema` prints its full JSON Schema). "
                       "Bodies may be JSON or YAML (Content-Type application/yaml or text/plain).",
        "properties": {"name": {"type": "string"}, "rules": {"type": "array", "items": {"type": "object"}}},
    },
    "States": {
        "type": "object", "required": ["states"],
        "properties": {"states": {"type": "object", "additionalProperties": {"type": "string"}}},
    },
    "StateUpdate": {
        "type": "object", "required": ["name", "value"], "additionalProperties": False,
        "properties": {"name": {"type": "string", "minLength": 1}, "value": {"type": "string"},
                       "session": {"type": "string", "default": ""}},
    },
    "Entry": {
        "type": "object",
        "required": ["seq", "request_id", "method", "path", "query", "headers", "header_pairs", "body",
                     "session", "rule", "status", "reason", "outcome", "delay", "arrived", "decisions"],
        "properties": {
            "seq": {"type": "integer"}, "request_id": {"type": "string"}, "method": {"type": "string"},
            "path": {"type": "string"}, "query": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "the request headers, a repeated name's values joined by ', ' "
                                       "(header_pairs has them exactly)"},
            "header_pairs": {"type": "array", "description": "the request headers as sent, in order",
                             "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                       "prefixItems": [{"type": "string"}, {"type": "string"}]}},
            "body": {"type": "string"}, "client": {"type": "string"}, "session": {"type": "string"},
            "rule": {"type": ["string", "null"]},
            "status": {"type": ["integer", "null"],
                       "description": "the status sent; null when a fault sent no status line "
                                      "(reset, close, drop, hang, garbage, malformed_status)"},
            "reason": {"type": "string"},
            "outcome": {"type": "string", "enum": [o.value for o in Outcome],
                        "description": " | ".join(o.value for o in Outcome)},
            "fault": {"type": ["string", "null"],
                      "description": "the fault done to the connection (reset, truncate, drip, ...), "
                                     "null for a plain answer"},
            "delay": {"type": ["number", "null"]}, "deadline": {"type": ["number", "null"]},
            "arrived": {"type": "number"}, "first_byte": {"type": ["number", "null"]},
            "ended": {"type": ["number", "null"]},
            "decisions": {"type": "array", "items": {"type": "string"}},
            "near_misses": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Journal": {
        "type": "object", "required": ["entries", "count"],
        "properties": {"entries": {"type": "array", "items": _ref("Entry")},
                       "count": {"type": "integer", "minimum": 0,
                                 "description": "how many entries match, before limit"}},
    },
    "Fault": {"type": "object", "description": "A runtime fault spec (see docs/control-api.md)."},
    "Recording": {
        "type": "object", "required": ["out", "exchanges", "saved", "rules", "warnings", "scenario"],
        "properties": {"out": {"type": "string", "description": "the scenario file it is written to"},
                       "exchanges": {"type": "integer", "minimum": 0, "description": "captured so far"},
                       "saved": {"type": "integer", "minimum": 0,
                                 "description": "exchanges in the file as last written"},
                       "rules": {"type": "integer", "minimum": 0},
                       "warnings": {"type": "array", "items": {"type": "string"}},
                       "scenario": {"type": "object", "description": "the scenario as it would be written"}},
    },
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mockserver")
    except PackageNotFoundError:
        return "0.0.0"


_ControlHandler = Callable[[ControlApi, web.BaseRequest, dict[str, str]], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One control endpoint: what dispatch calls and what the OpenAPI document says, in one row."""

    method: str
    path: str  # relative to PREFIX; {name} takes one path segment
    handler: _ControlHandler
    summary: str
    ok: dict[str, Any]  # the success responses: {status: {description, content}}
    errors: tuple[str, ...] = ()  # ERRORS codes it may answer besides unauthorized and internal_error
    body: dict[str, Any] | None = None  # the request body's content, when it takes one
    parameters: tuple[dict[str, Any], ...] = ()
    open_with_public_health: bool = False  # --public-health leaves it open despite a token


_RESOURCES = {"type": "object", "required": ["name", "session", "items"],
              "properties": {"name": {"type": "string"}, "session": {"type": "string"},
                             "items": {"type": "array", "items": {"type": "object"}}}}
_SESSION = _param("session", {"type": "string"}, "a session (the X-Mock-Session header's value)")
_SCENARIO_BODY = {"content": {
    _JSON: {"schema": _ref("Scenario")},
    "application/yaml": {"schema": {"type": "string"}},
    "text/plain": {"schema": {"type": "string"}},
}}
_SUMMARIES = {"type": "array", "items": _ref("ScenarioSummary")}


def _removed(text: str = "removed") -> dict[str, Any]:
    return _ok(text, {"type": "object", "required": ["removed"],
                      "properties": {"removed": {"type": "string"}}})


def _name(text: str) -> dict[str, Any]:
    return _param("name", {"type": "string", "pattern": "^[^/]+$"}, text, "path")


#: every control endpoint (the dashboard's /__mock/ui pages are added by dashboard/routes.py)
ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("GET", "/health", ControlApi.health,
              "Is the server up; what it serves; the last reload error", _ok("serving", _ref("Health")),
              open_with_public_health=True),
    RouteSpec("GET", "/scenarios", ControlApi.list_scenarios, "The loaded scenarios",
              _ok("loaded scenarios", _SUMMARIES)),
    RouteSpec("POST", "/scenarios", ControlApi.add_scenario,
              "Add a scenario, or replace the one with the same name",
              {**_ok("replaced", _ref("ScenarioSummary")), **_ok("added", _ref("ScenarioSummary"), "201")},
              ("payload_too_large", "invalid_scenario"), body=_SCENARIO_BODY),
    RouteSpec("PUT", "/scenarios", ControlApi.replace_scenarios,
              "Serve exactly these scenarios (a list, or one scenario)", _ok("now served", _SUMMARIES),
              ("payload_too_large", "invalid_scenario"), body={"content": {
                  _JSON: {"schema": {"oneOf": [_ref("Scenario"),
                                               {"type": "array", "items": _ref("Scenario")}]}},
                  "application/yaml": {"schema": {"type": "string"}},
                  "text/plain": {"schema": {"type": "string"}}}}),
    RouteSpec("DELETE", "/scenarios/{name}", ControlApi.delete_scenario, "Stop serving a scenario",
              _removed(), ("unknown_scenario",), parameters=(_name("the scenario's name"),)),
    RouteSpec("POST", "/snapshots", ControlApi.take_snapshot,
              "Remember the scenarios served now, to come back to them (what a test changes is undone)",
              _ok("taken", {"type": "object", "required": ["snapshot", "scenarios"],
                            "properties": {"snapshot": {"type": "string"},
                                           "scenarios": {"type": "array", "items": {"type": "string"}}}},
                  "201")),
    RouteSpec("POST", "/snapshots/{id}/restore", ControlApi.restore_snapshot,
              "Serve exactly the snapshot's scenarios again (the snapshot is used up)",
              _ok("restored", {"type": "object", "required": ["restored", "scenarios"],
                               "properties": {"restored": {"type": "string"},
                                              "scenarios": {"type": "array", "items": {"type": "string"}}}}),
              ("unknown_snapshot",), parameters=(_param("id", {"type": "string", "pattern": "^[^/]+$"},
                                                        "the id POST /__mock/snapshots gave", "path"),)),
    RouteSpec("POST", "/reset", ControlApi.reset,
              "Forget counters, states, the journal, the clock and runtime faults "
              "(or one session's counters and states)",
              _ok("reset", {"type": "object", "required": ["reset", "session"],
                            "properties": {"reset": {"const": True},
                                           "session": {"type": ["string", "null"]}}}),
              ("bad_request",), parameters=(_SESSION,)),
    RouteSpec("GET", "/state", ControlApi.get_state, "Named states of a session",
              _ok("states", _ref("States")),
              ("bad_request",), parameters=(_SESSION,)),
    RouteSpec("PUT", "/state", ControlApi.put_state, "Set one named state",
              _ok("the session's states", _ref("States")), ("bad_request",),
              body=_content(_ref("StateUpdate"))),
    RouteSpec("GET", "/resources/{name}", ControlApi.get_resources,
              "A collection's items as a session sees them now (docs/resources.md)",
              _ok("the items", _RESOURCES), ("bad_request", "unknown_collection"),
              parameters=(_name("the collection's name"), _SESSION)),
    RouteSpec("PUT", "/resources/{name}", ControlApi.put_resources,
              "Replace a session's collection (a reset brings the seed back)",
              _ok("the items now", _RESOURCES), ("bad_request", "unknown_collection"),
              parameters=(_name("the collection's name"),),
              body=_content({"type": "object", "required": ["items"], "additionalProperties": False,
                             "properties": {"items": {"type": "array", "items": {"type": "object"}},
                                            "session": {"type": "string"}}})),
    RouteSpec("GET", "/journal", ControlApi.get_journal, "Recorded exchanges, oldest first, filtered",
              _ok("entries", _ref("Journal")), ("bad_request",), parameters=(
                  _param("rule", {"type": "string"}, "rule id (scenario/rule) or bare rule name"),
                  _param("method", {"type": "string"}, "HTTP method, any case"),
                  _param("path", {"type": "string"}, "exact request path"),
                  _param("status", {"type": "integer", "minimum": 100, "maximum": 999},
                         "answer status (repeat the parameter for several)"),
                  _SESSION,
                  _param("outcome", {"type": "string"},
                         ", ".join(o.value for o in Outcome) + " (repeatable)"),
                  _param("fault", {"type": "string"},
                         "the fault's name, such as reset or truncate (repeatable)"),
                  _param("header", {"type": "string"},
                         "NAME: the request has that header (any case); NAME:VALUE: one of its values "
                         "is VALUE (repeatable; every one must hold)"),
                  _param("body", {"type": "string"}, "text the request body contains"),
                  _param("limit", {"type": "integer", "minimum": 0}, "only the last N matching entries"),
              )),
    RouteSpec("DELETE", "/journal", ControlApi.delete_journal, "Forget the journal", _ok("cleared", {
        "type": "object", "required": ["cleared"], "properties": {"cleared": {"const": True}}})),
    RouteSpec("GET", "/recording", ControlApi.get_recording,
              "While recording: where it is written, how many exchanges, the scenario so far",
              _ok("the recording", _ref("Recording")), ("not_recording",)),
    RouteSpec("POST", "/recording/save", ControlApi.save_recording,
              "While recording: write the scenario (and side files) now; recording goes on",
              _ok("written", {"type": "object", "required": ["saved", "files", "exchanges"],
                              "properties": {"saved": {"type": "string"},
                                             "files": {"type": "array", "items": {"type": "string"}},
                                             "exchanges": {"type": "integer", "minimum": 0}}}),
              ("not_recording", "save_failed")),
    RouteSpec("POST", "/seed", ControlApi.set_seed,
              "Reseed delays and chaos draws (null: the scenarios' own seeds)",
              _ok("the seed now", {"type": "object", "required": ["seed"],
                                   "properties": {"seed": {"type": ["integer", "null"]}}}),
              ("bad_request",), body=_content({
                  "type": "object", "required": ["seed"], "additionalProperties": False,
                  "properties": {"seed": {"type": ["integer", "null"]}}})),
    RouteSpec("POST", "/clock/advance", ControlApi.advance_clock,
              "Move the mock's clock forward (timelines, rate limits)",
              _ok("the clock now, in seconds since start or reset", {
                  "type": "object", "required": ["now"], "properties": {"now": {"type": "number"}}}),
              ("bad_request",), body=_content({
                  "type": "object", "required": ["seconds"], "additionalProperties": False,
                  "properties": {"seconds": {"type": "number", "minimum": 0}}})),
    RouteSpec("GET", "/faults", ControlApi.list_faults, "Active runtime faults",
              _ok("faults", {"type": "array", "items": _ref("Fault")})),
    RouteSpec("POST", "/faults", ControlApi.add_fault, "Add a runtime fault",
              _ok("added", _ref("Fault"), "201"),
              ("bad_request", "invalid_fault"), body=_content(_ref("Fault"))),
    RouteSpec("DELETE", "/faults/{name}", ControlApi.delete_fault, "Remove a runtime fault", _removed(),
              ("unknown_fault",), parameters=(_name("the fault's name"),)),
    RouteSpec("GET", "/metrics", ControlApi.metrics, "Prometheus metrics (text format 0.0.4)",
              _ok("metrics", {"type": "string"}, media="text/plain")),
    RouteSpec("GET", "/openapi.json", ControlApi.openapi, "This document",
              _ok("OpenAPI 3.1", {"type": "object"})),
)


def openapi_document(*, secured: bool, public_health: bool) -> dict[str, Any]:
    """An OpenAPI 3.1 description of the control API as this server is configured."""
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(f"{PREFIX}{route.path}", {})[route.method.lower()] = _operation(
            route.summary, route.ok, *route.errors, body=route.body,
            parameters=list(route.parameters) or None,
            secured=secured and not (route.open_with_public_health and public_health))
    from ..dashboard.routes import openapi_paths

    paths.update(openapi_paths(_operation, _ok, _param))
    if not secured:
        for item in paths.values():
            for op in item.values():
                op["responses"].pop("401", None)
                op.pop("security", None)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "mockserver control API", "version": _version(),
                 "description": "Drive a running mockserver over HTTP: load scenarios, reset, read the "
                                "journal, move the clock. Errors are {error, detail} from one table."},
        "paths": paths,
        "components": {"schemas": _SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
    if secured:
        doc["security"] = [{"bearer": []}]
    return doc
