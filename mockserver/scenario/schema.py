"""The scenario file format, as pydantic models: validation and the JSON Schema come from here.

These models describe what a user may write, shorthands included. They are validated once at
load time and then compiled (scenario.py) into frozen runtime objects; nothing downstream sees
them or the raw dicts.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args, get_type_hints

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..durations import DURATION_PATTERN, parse_duration
from ..faults import FAULTS, fault_fields

__all__ = [
    "BranchSpec",
    "DeadlineSpec",
    "DefaultsSpec",
    "DelaySpec",
    "JsonMatchSpec",
    "MatchSpec",
    "PlanSpec",
    "RuleSpec",
    "ScenarioSpec",
    "StateChangeSpec",
    "ValueMatchSpec",
]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
QUIET = ("applies_to", "secrets")
"""Warning kinds a scenario may silence with ``quiet: [...]``."""


def _fail(found: object, expected: str) -> PydanticCustomError:
    """A located validation error: what was found and what would be valid."""
    return PydanticCustomError("mock", "found {found}; expected {expected}",
                               {"found": show(found), "expected": expected})


def _scalar_fail(found: object, expected: str) -> PydanticCustomError:
    """As _fail, but a mapping or list where a scalar belongs is only a kind mismatch, which
    loses to the errors of a union's mapping branch when the two are reported together."""
    kind = "mock_kind" if isinstance(found, dict | list) else "mock"
    return PydanticCustomError(kind, "found {found}; expected {expected}",
                               {"found": show(found), "expected": expected})


def _conflict(given: list[str], expected: str) -> PydanticCustomError:
    return PydanticCustomError("mock", "found {found}; expected {expected}",
                               {"found": " and ".join(given) or "none of them", "expected": expected})


def show(value: object) -> str:
    """A short, readable rendering of a YAML value for error messages."""
    if isinstance(value, dict | list):
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = ""
        if text and len(text) <= 40:
            return text
        kind = "mapping" if isinstance(value, dict) else "list"
        return f"a {kind}" if value else f"an empty {kind}"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds is None:
        raise _scalar_fail(value, "a duration such as 1.5, 250ms, 2s or 1m")
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0},
                              {"type": "string", "pattern": DURATION_PATTERN}],
                    "description": "seconds, or a number with a unit: us, ms, s, m, h"}),
]


class StrictModel(BaseModel):
    """Base for every file-format model: unknown fields are errors that list the valid ones."""

    # built on first validation: only the models validated directly (the scenario, a runtime
    # fault) pay for a validator, the nested ones live inside those (about 1 MB less per process)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)
    shorthand: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            valid = sorted(f.alias or name for name, f in cls.model_fields.items())
            for key in data:
                if key not in valid:
                    hint = difflib.get_close_matches(str(key), valid, n=1)
                    did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
                    raise PydanticCustomError(
                        "unknown_field", "unknown field {key}{hint}; valid fields: {valid}",
                        {"key": repr(key), "hint": did_you_mean, "valid": ", ".join(valid)})
        return data


Scalar = str | int | float | bool


class ValueMatchSpec(StrictModel):
    """How one value (query parameter, header, JSON field) must look. A bare scalar means equals."""

    equals: Scalar | None = None
    regex: str | None = None
    contains: str | None = None
    startswith: str | None = None
    one_of: list[Scalar] | None = None
    present: bool | None = Field(None, description="true: must be there; false: must be absent")

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise _fail(value, f"a valid regular expression ({exc})") from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ValueMatchSpec:
        given = [k for k in ("equals", "regex", "contains", "startswith", "one_of", "present")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise _conflict(given, "exactly one of equals, regex, contains, startswith, one_of, present")
        return self


ValueMatch = Scalar | ValueMatchSpec


class QueryMatchSpec(ValueMatchSpec):
    """A query parameter's test; ``any``/``all`` look at every value of a repeated one
    (``?tag=a&tag=b``), the other tests at its first value."""

    any_: Scalar | ValueMatchSpec | list[Scalar] | None = Field(
        None, alias="any", description="some value passes this test (a list: some value is one of them)")
    all_: Scalar | ValueMatchSpec | list[Scalar] | None = Field(
        None, alias="all", description="every value passes this test (a list: each listed value is there)")

    @field_validator("any_", "all_")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        if value == []:
            raise _fail(value, "at least one value (an empty list would test nothing)")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> QueryMatchSpec:
        given = [k for k in ("equals", "regex", "contains", "startswith", "one_of", "present", "any_", "all_")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise _conflict([k.rstrip("_") for k in given], "exactly one of equals, regex, contains, "
                            "startswith, one_of, present, any, all")
        return self


QueryMatch = Scalar | QueryMatchSpec


class PathRegexSpec(StrictModel):
    """A path given as a regular expression; named groups become path parameters."""

    regex: str

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise _fail(value, f"a valid regular expression ({exc})") from None
        return value


class JsonMatchSpec(StrictModel):
    """JSON body matching: ``subset`` (every given key equal, recursively) and/or dotted ``paths``."""

    subset: Any = None
    paths: dict[str, ValueMatch] = Field(default_factory=dict,
                                         description="dotted path (a.b[0].c) -> value matcher")


class SignatureSpec(StrictModel):
    """Check the Huawei SDK-HMAC-SHA256 signature against known access keys."""

    scheme: Literal["sdk-hmac-sha256"] = "sdk-hmac-sha256"
    credentials: dict[str, str] = Field(
        default_factory=dict,
        description="access key -> secret key; ${ENV} references are expanded, unset ones dropped")
    valid: bool = Field(True, description="true: only correctly signed requests; false: missing or wrong")


def _method(value: object) -> object:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", item):
                raise _fail(item, f"an HTTP method such as {', '.join(METHODS[:5])} or *")
            if item == "*" or item in METHODS:
                continue
            if item.upper() in METHODS:  # methods are case-sensitive (RFC 9110 9.1)
                raise _fail(item, f"{item.upper()!r}: methods are case-sensitive and a client sends "
                                  "them in capitals")
            hint = difflib.get_close_matches(item.upper(), METHODS, n=1, cutoff=0.75)
            if hint:
                raise _fail(item, f"{hint[0]!r} (or another HTTP method; {item!r} looks like a typo)")
            # the server answers any other method with 501 before rules are tried: a dead rule
            raise _fail(item, f"one of {', '.join(METHODS)} or * (the server answers other methods "
                              "with 501 Not Implemented, so this rule could never match)")
        return value
    raise _scalar_fail(value, "a method or a list of methods")


class MatchSpec(StrictModel):
    """What a request must look like for the rule to answer it. Omitted parts match anything."""

    method: Annotated[
        list[str] | None,
        BeforeValidator(lambda v: v if v is None else _method(v)),
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                        "description": "GET, [GET, HEAD] or * for any"}),
    ] = None
    path: str | PathRegexSpec | None = Field(
        None, description="template such as /v1.0/{project_id}/clusters/{id}, or {regex: ...}")
    query: dict[str, QueryMatch] = Field(default_factory=dict)
    headers: dict[str, ValueMatch] = Field(default_factory=dict, description="names are case-insensitive")
    json_: JsonMatchSpec | None = Field(None, alias="json")
    form: dict[str, QueryMatch] = Field(
        default_factory=dict,
        description="fields of an urlencoded or multipart form body (tests as for query)")
    body: ValueMatch | None = Field(
        None,
        description="the raw body as text: a bare string equals it, or {contains|regex|startswith: ...}")
    signature: SignatureSpec | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | PathRegexSpec | None) -> str | PathRegexSpec | None:
        if isinstance(value, str):
            if not value.startswith("/"):
                raise _fail(value, "a path that starts with /")
            from ..matching import PathTemplate, TemplateError

            try:
                PathTemplate.compile(value)
            except TemplateError as exc:
                raise _fail(value, str(exc)) from None
        return value


class LogNormalSpec(StrictModel):
    """Lognormal delay: *median* is the 50th percentile, *sigma* the spread, *max* the cap."""

    median: Duration
    sigma: float = Field(0.5, ge=0, le=10)
    max: Duration | None = None


class DelaySpec(StrictModel):
    """A delay distribution; a bare duration is shorthand for ``fixed``."""

    fixed: Duration | None = None
    uniform: Annotated[tuple[Duration, Duration] | None,
                       Field(description="[lower, upper], both inclusive")] = None
    lognormal: LogNormalSpec | None = None

    @field_validator("uniform")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise PydanticCustomError("mock", "found {found}; expected {expected}", {
                "found": f"lower {value[0]:g}s above upper {value[1]:g}s",
                "expected": "[lower, upper] with lower <= upper"})
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> DelaySpec:
        given = [k for k in ("fixed", "uniform", "lognormal") if getattr(self, k) is not None]
        if len(given) != 1:
            raise _conflict(given, "exactly one of fixed, uniform, lognormal")
        if self.lognormal is not None and self.lognormal.max is not None \
                and self.lognormal.max < self.lognormal.median:
            raise _fail(self.lognormal.max, "a max at least as large as the median")
        return self


Delay = Duration | DelaySpec


def _status(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise _scalar_fail(value, "an HTTP status code, an integer from 100 to 599")
    return value


Status = Annotated[int, BeforeValidator(_status),
                   WithJsonSchema({"type": "integer", "minimum": 100, "maximum": 599})]


class RetryAfterDateSpec(StrictModel):
    """Retry-After as an HTTP-date this far in the future (instead of delay-seconds)."""

    date: Duration


class PlanSpec(StrictModel):
    """One answer: status, reason phrase, headers, a body (text, JSON or file) and a delay."""

    status: Status = 200
    reason: str | None = Field(None, description="reason phrase; default: the catalogue's")
    headers: dict[str, Scalar] = Field(default_factory=dict)
    body: str | None = None
    json_: Any = Field(None, alias="json")
    file: str | None = Field(None, description="a file in the scenario's folder (or below it)")
    template: bool = Field(
        False, description="render the file as a template (a .json file keeps value types)")
    delay: Delay | None = None
    repeat: int = Field(1, ge=1, description="in a sequence: how many requests get this answer")
    retry_after: Duration | RetryAfterDateSpec | None = Field(
        None, description="Retry-After in whole seconds (rounded up), or {date: 30s} for an HTTP-date")
    break_protocol: bool = Field(
        False, description="allow what HTTP forbids (a body on 204/304, a bare 1xx as the final answer)")
    fault: Fault | None = Field(
        None, description="in a sequence: do this to the connection for this answer (reset, close, "
                          "truncate, ...); docs/scenarios.md#sequences-with-faults")

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "\r\n\0"):
            raise _fail(value, "a reason phrase without CR, LF or NUL")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        for name, item in value.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise _fail(name, "a header name made of letters, digits and !#$%&'*+.^_`|~-")
            if any(c in str(item) for c in "\r\n\0"):
                raise _fail(item, "a header value without CR, LF or NUL")
        return value

    @model_validator(mode="after")
    def _one_body(self, info: ValidationInfo) -> PlanSpec:
        given = [k for k, v in (("body", self.body), ("json", self.json_), ("file", self.file))
                 if v is not None]
        if len(given) > 1:
            raise _conflict(given, "at most one of body, json, file")
        if self.template and self.file is None:
            raise _fail(True, "template: true only with file: (body and json strings are templates already)")
        return self


# from the fault registry: which spec fields each fault takes, and the names a spec may give
FAULT_FIELDS: dict[str, tuple[str, ...]] = {name: fault_fields(name) for name in FAULTS}
if TYPE_CHECKING:
    FaultType = str
else:
    FaultType = Literal[tuple(FAULTS)]


class _FaultSpecBase(StrictModel):
    """Something done to the connection instead of (or while) answering normally."""

    type: FaultType

    @model_validator(mode="after")
    def _fields_fit_type(self) -> _FaultSpecBase:
        allowed = FAULT_FIELDS[self.type]
        for name in _FAULT_SPEC_FIELDS:
            if getattr(self, name) is not None and name not in allowed:
                valid = ", ".join(allowed) or "no other fields"
                raise _fail(name, f"only fields that apply to {self.type}: {valid}")
        given = {name: value for name in allowed if (value := getattr(self, name)) is not None}
        problem = FAULTS[self.type].spec_problem(given)  # what the fault's class says is missing
        if problem is not None:
            found, expected = problem
            raise _fail(None, expected) if found is None else _conflict(found, expected)
        return self


def _fault_spec_fields() -> dict[str, Any]:
    """The spec's optional fields, from the fault classes' dataclass fields (faults.spec): type,
    bounds and one description per fault; a name several faults share must mean the same."""
    seen: dict[str, tuple[Any, dict[str, Any], list[str]]] = {}
    for fault_name, cls in FAULTS.items():
        hints = get_type_hints(cls)
        for item in dataclasses.fields(cls):  # type: ignore[arg-type]
            meta = dict(item.metadata)
            doc = meta.pop("doc", "")
            if meta.pop("duration", False):
                kind: Any = Duration
            else:
                kinds = [k for k in get_args(hints[item.name]) if k is not type(None)] or [hints[item.name]]
                kind = kinds[0]
            bounds = {k: v for k, v in meta.items() if k in ("ge", "gt", "lt") and v is not None}
            if item.name in seen and (seen[item.name][0], seen[item.name][1]) != (kind, bounds):
                raise TypeError(f"fault {fault_name}: field {item.name!r} differs from the other faults' "
                                f"{item.name!r} (type or bounds); give it another name")
            docs = seen.setdefault(item.name, (kind, bounds, []))[2]
            docs.append(f"{fault_name}: {doc}" if doc else fault_name)
    return {name: (kind | None, Field(None, description="; ".join(docs), **bounds))
            for name, (kind, bounds, docs) in seen.items()}


if TYPE_CHECKING:
    FaultSpec = _FaultSpecBase
else:
    FaultSpec = create_model("FaultSpec", __base__=_FaultSpecBase, __module__=__name__,
                             __doc__=_FaultSpecBase.__doc__, **_fault_spec_fields())


_FAULT_SPEC_FIELDS = tuple(name for name in FaultSpec.model_fields if name != "type")
Fault = FaultType | FaultSpec


class MixEntrySpec(StrictModel):
    """One weighted outcome: the rule's own answer (nothing else given), another answer, a fault,
    or the rule's own answer later by ``delay``."""

    weight: float = Field(gt=0)
    respond: PlanSpec | None = None
    fault: Fault | None = None
    delay: Duration | None = None

    @model_validator(mode="after")
    def _one_outcome(self) -> MixEntrySpec:
        given = [k for k in ("respond", "fault", "delay") if getattr(self, k) is not None]
        if len(given) > 1:
            raise _conflict(given, "at most one of respond, fault, delay")
        return self


def _limit_key(value: object) -> object:
    pattern = r"global|client|session|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise _scalar_fail(value, "global, client, session or header:<Name>")
    return value


LimitKey = Annotated[str, BeforeValidator(_limit_key),
                     WithJsonSchema({"type": "string", "pattern": "^(global|client|session|header:.+)$"})]


class RateLimitSpec(StrictModel):
    """A token bucket: *rate* tokens per *per*, holding at most *burst*; empty means 429."""

    rate: float = Field(gt=0)
    per: Duration = 1.0
    burst: int | None = Field(None, ge=1, description="default: the rate, rounded up")
    key: LimitKey = Field("global", description="global, client (address), session, or header:<Name>")
    headers: bool = Field(False, description="also send RateLimit-Policy/RateLimit and X-RateLimit-*")


class ConcurrencySpec(StrictModel):
    """At most *limit* requests in flight per key; beyond that, 503 with Retry-After."""

    limit: int = Field(ge=1)
    key: LimitKey = "global"
    retry_after: Duration = 1.0


class PhaseSpec(StrictModel):
    """A phase of a timeline, up to ``until`` seconds after start (or the last reset)."""

    until: Duration
    respond: PlanSpec | None = None
    fault: Fault | None = None
    mix: list[MixEntrySpec] | None = None
    delay: Duration | None = None
    retry_after: Literal["remaining"] | Duration | None = Field(
        None, description="Retry-After on the answers: remaining (seconds left in the phase) or seconds")

    @model_validator(mode="after")
    def _one_outcome(self) -> PhaseSpec:
        given = [k for k in ("respond", "fault", "mix", "delay") if getattr(self, k) is not None]
        if len(given) > 1:
            raise _conflict(given, "at most one of respond, fault, mix, delay")
        return self


class RuntimeFaultSpec(StrictModel):
    """A fault added at run time (control API), for every request its ``match`` matches."""

    name: str | None = None
    match: MatchSpec | None = None
    respond: PlanSpec | None = None
    fault: Fault | None = None
    delay: Duration | None = None
    probability: float = Field(1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _one_outcome(self) -> RuntimeFaultSpec:
        given = [k for k in ("respond", "fault", "delay") if getattr(self, k) is not None]
        if len(given) != 1:
            raise _conflict(given, "exactly one of respond, fault, delay")
        return self


Then = Literal["cycle", "last"] | PlanSpec
Responder = PlanSpec | list[PlanSpec]


class ConditionSpec(StrictModel):
    """A condition on query parameters and headers, for conditional answers."""

    query: dict[str, QueryMatch] = Field(default_factory=dict)
    headers: dict[str, ValueMatch] = Field(default_factory=dict)


class BranchSpec(StrictModel):
    """A conditional answer: when the request meets ``if``, answer with ``respond``."""

    if_: ConditionSpec = Field(alias="if")
    respond: Responder
    then: Then = "last"


class DeadlineSpec(StrictModel):
    """Which request parameter states the client's deadline (default: query or header Timeout)."""

    query: str | None = "Timeout"
    header: str | None = "Timeout"
    unit: Literal["s", "ms"] = Field("s", description="unit of a bare number in the parameter")


class MaxBodySpec(StrictModel):
    """The largest request body the rule takes; larger ones get 413 before the body is read."""

    size: int = Field(ge=0, description="bytes")
    retry_after: Duration | None = Field(None, description="the limit is temporary: send Retry-After")


class WebSocketStepSpec(StrictModel):
    """One step of a scripted WebSocket exchange."""

    send: str | None = None
    send_json: Any = None
    receive: bool | None = Field(None, description="wait for one message from the client")
    echo: int | None = Field(None, ge=1, description="echo this many messages back")
    close: int | None = Field(None, ge=1000, le=4999, description="close with this code")
    delay: Duration | None = None
    abort: bool | None = Field(None, description="fault: close the connection, no close frame")
    reset: bool | None = Field(None, description="fault: a TCP RST, no close frame")
    malformed: bool | None = Field(None, description="fault: send a frame with a reserved opcode")

    @model_validator(mode="after")
    def _one_action(self) -> WebSocketStepSpec:
        given = [k for k in ("send", "send_json", "receive", "echo", "close", "delay", "abort", "reset",
                             "malformed")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise _conflict(given, "exactly one of send, send_json, receive, echo, close, delay, abort, "
                                   "reset, malformed")
        return self


class StreamEventSpec(StrictModel):
    """One event of a streaming answer: SSE fields (data may be a template), or ``json:`` (a JSON
    value, its strings may be templates) sent as the data, or as the line of JSON lines."""

    data: str | None = Field(
        None, description="the event's data (a template); several lines: several data fields")
    json_: Any = Field(
        None, alias="json", description="a JSON value sent as the data (strings may be templates)")
    event: str | None = Field(None, description="SSE event type")
    id: str | None = Field(None, description="SSE id; a client's Last-Event-ID resumes after it")
    retry: Duration | None = Field(None, description="SSE retry: the client's reconnection time")
    comment: str | None = Field(None, description="an SSE comment line (': ...'), ignored by clients")

    @model_validator(mode="after")
    def _not_both(self) -> StreamEventSpec:
        if self.data is not None and self.json_ is not None:
            raise _conflict(["data", "json"], "data or json, not both")
        if self.data is None and self.json_ is None and self.comment is None and self.event is None \
                and self.id is None and self.retry is None:
            raise _fail({}, "at least one of data, json, event, id, retry, comment")
        return self


class StreamFaultSpec(StrictModel):
    """A fault inside the stream (docs/streaming.md): which one, and where."""

    type: Literal["stop", "reset", "malformed", "pause", "duplicate", "out_of_order"]
    after: int | None = Field(None, ge=0, description="stop, reset: after this many events (default: "
                                                       "a seeded draw); pause: before event after+1")
    abrupt: bool | None = Field(None, description="stop: close without the last chunk")
    at: int | None = Field(
        None, ge=1, description="malformed, duplicate, out_of_order: the event number (1-based)")
    duration: Duration | None = Field(None, description="pause: how long")

    @model_validator(mode="after")
    def _fields_fit(self) -> StreamFaultSpec:
        allowed = {"stop": {"after", "abrupt"}, "reset": {"after"}, "pause": {"after", "duration"},
                   "malformed": {"at"}, "duplicate": {"at"}, "out_of_order": {"at"}}[self.type]
        extra = [k for k in ("after", "abrupt", "at", "duration")
                 if getattr(self, k) is not None and k not in allowed]
        if extra:
            raise _conflict([self.type, *extra], f"{self.type} with {', '.join(sorted(allowed))} only")
        return self


class StreamSpec(StrictModel):
    """A streaming answer: events sent one by one, flushed each, paced (docs/streaming.md)."""

    format: Literal["sse", "ndjson", "jsonl"] = Field(
        "sse", description="sse: text/event-stream; ndjson: application/x-ndjson; jsonl: application/jsonl")
    events: list[StreamEventSpec] = Field(min_length=1)
    interval: Duration = Field(0.0, description="wait between events")
    jitter: Duration = Field(0.0, description="plus a seeded draw between 0 and this, per event")
    content_type: str | None = Field(None, description="instead of the format's media type")
    fault: StreamFaultSpec | None = None


class ProxySpec(StrictModel):
    """Forward to an upstream: its base URL (the request's path and query are appended)."""

    url: str | None = Field(None, description="http:// or https:// base URL of the upstream; default: "
                                              "--proxy-unmatched, else the scenario's proxy_unmatched")
    strip_prefix: str | None = Field(None, description="remove this path prefix before forwarding")
    ca: str | None = Field(None, description="CA bundle (PEM) for an https upstream, next to the scenario")
    timeout: Duration | None = Field(
        None, description="upstream timeout; then 504 (default: --proxy-timeout)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", value):
            raise _fail(value, "an http:// or https:// URL without query or fragment, "
                               "such as http://127.0.0.1:8000/api")
        return value.rstrip("/")

    @field_validator("strip_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise _fail(value, "a path prefix starting with /")
        return value.rstrip("/") if value is not None else None


class StageSpec(StrictModel):
    """One transition of an item's lifecycle: after a time, merge set into it, or remove it."""

    after: Duration = Field(description="time from the operation, on the server's clock")
    set: Any = Field(None, description="a JSON merge patch (templates read the request and item)")
    gone: bool = Field(False, description="remove the item instead")

    @model_validator(mode="after")
    def _one(self) -> StageSpec:
        if (self.set is None) == (not self.gone):
            raise _conflict([k for k in ("set", "gone") if k in self.model_fields_set],
                            "one of set (a patch) or gone: true")
        return self


class PagingSpec(StrictModel):
    """Offset paging (offset, limit) or page paging (page, size), each usually a query template."""

    offset: str | int | None = None
    limit: str | int | None = None
    page: str | int | None = None
    size: str | int | None = None
    base: Literal[0, 1] = Field(0, description="the number of the first item (offset) or page")
    default: int = Field(10, ge=1, description="items per page when the request gives none")
    max: int = Field(1000, ge=1, description="the largest page a request may ask for")

    @model_validator(mode="after")
    def _one_style(self) -> PagingSpec:
        offset: list[str] = [k for k in ("offset", "limit") if k in self.model_fields_set]
        page: list[str] = [k for k in ("page", "size") if k in self.model_fields_set]
        if offset and page:
            raise _conflict(offset + page, "offset and limit, or page and size, not both")
        return self


class ResourceOpSpec(StrictModel):
    """What a rule does to a collection (docs/resources.md)."""

    collection: str = Field(description="a collection declared under resources:")
    action: Literal["create", "list", "show", "update", "replace", "delete"]
    id: str | None = Field(None, description="the item's id, usually {{ path.id }}; for create, "
                                             "empty means generated")
    item: Any = Field(None, description="create/replace: the item; update: the merge patch "
                                        "(default: the request's JSON)")
    filter: dict[str, Any] = Field(default_factory=dict,
                                   description="field (dotted) -> wanted value; empty values skip")
    sort: str | None = Field(None, description="fields, comma separated, - for descending")
    page: PagingSpec | None = None
    lifecycle: list[StageSpec] = Field(default_factory=list)
    missing: PlanSpec | None = Field(None, description="the answer for a missing item (default 404)")
    conflict: PlanSpec | None = Field(None, description="the answer for a conflict (default 409)")

    @model_validator(mode="after")
    def _fits(self) -> ResourceOpSpec:
        needs_id = self.action in ("show", "update", "replace", "delete")
        if needs_id and self.id is None:
            raise PydanticCustomError("mock", "found {found}; expected {expected}", {
                "found": f"{self.action} without id", "expected": "id: such as '{{ path.id }}'"})
        listing: list[str] = [k for k in ("filter", "sort", "page") if k in self.model_fields_set]
        if listing and self.action != "list":
            raise _conflict(listing, "filter, sort and page only with action: list")
        return self


class CollectionSpec(StrictModel):
    """A collection of items: seed items inline or from a JSON/YAML file beside the scenario."""

    id_field: str = Field("id", description="the field that holds each item's id")
    ids: Literal["uuid", "int"] = Field("uuid", description="the shape of generated ids")
    seed: list[dict[str, Any]] | None = None
    seed_file: str | None = Field(None, description="a JSON or YAML list beside the scenario")
    unique: list[str] = Field(default_factory=list, description="fields no two items may share")
    insert: Literal["first", "last"] = Field("last", description="where created items go in lists")

    @model_validator(mode="after")
    def _one_seed(self) -> CollectionSpec:
        if self.seed is not None and self.seed_file is not None:
            raise _conflict(["seed", "seed_file"], "seed or seed_file, not both")
        return self


class StateChangeSpec(StrictModel):
    """A state that changes by itself: ``to`` now, then ``then`` after ``for`` (server clock) or
    after ``reads`` answers of rules that require the state, whichever comes first."""

    to: str
    for_: Duration | None = Field(None, alias="for", description="how long the state stays, on the "
                                                                 "server's clock")
    reads: int | None = Field(None, ge=1, description="how many answers of rules that require it")
    then: str = Field(description="the state it becomes")

    @model_validator(mode="after")
    def _when(self) -> StateChangeSpec:
        if self.for_ is None and self.reads is None:
            raise _fail(None, "for (a duration such as 10s), reads (a count of polls), or both")
        return self


class RuleSpec(StrictModel):
    """A rule: what it matches and how it answers."""

    name: str | None = None
    priority: int = Field(0, description="higher wins; ties keep file order")
    match: MatchSpec = Field(default_factory=MatchSpec)
    respond: Responder = Field(default_factory=PlanSpec)
    then: Then = Field("last", description="after the last answer of a sequence: cycle, last, or a plan")
    when: list[BranchSpec] = Field(default_factory=list)
    times: int | None = Field(None, ge=1, description="answer at most this many requests")
    key: str | None = Field(
        None, description="template such as {{ path.id }}: counters, sequences and times are kept "
                          "per value, so each resource has its own")
    state: str = Field("default", description="name of the state machine the rule reads and moves; "
                                              "may be a template such as cluster-{{ path.id }}")
    requires_state: str | list[str] | None = Field(None, description="a state, or any of a list")
    sets_state: str | StateChangeSpec | None = Field(
        None, description="move the state here; {to, for and/or reads, then}: and later on by itself")
    deadline: DeadlineSpec | bool = True
    fault: Fault | None = Field(None, description="always do this to the connection")
    mix: list[MixEntrySpec] | None = Field(None, description="weighted outcomes, drawn per request")
    rate_limit: RateLimitSpec | None = None
    concurrency: ConcurrencySpec | None = None
    expect: PlanSpec | None = Field(
        None, description="answer Expect: 100-continue with this instead of 100 (e.g. 417, 401)")
    max_body: int | MaxBodySpec | None = Field(None, description="bytes; larger bodies get 413")
    require_length: bool = Field(False, description="a body without Content-Length gets 411")
    content_types: list[str] | None = Field(
        None, description="request media types accepted; a body of another type gets 415")
    websocket: list[WebSocketStepSpec] | None = Field(
        None, description="accept a WebSocket upgrade (101) and run this exchange")
    stream: StreamSpec | None = Field(
        None, description="answer with a stream of events (SSE or JSON lines); docs/streaming.md")
    proxy: bool | str | ProxySpec | None = Field(
        None, description="forward to this upstream URL instead of answering; true: to the default "
                          "upstream (--proxy-unmatched, or the scenario's proxy_unmatched); docs/proxy.md")
    resource: ResourceOpSpec | None = Field(
        None, description="create, list, show, update, replace or delete an item (docs/resources.md)")

    @field_validator("proxy", mode="before")
    @classmethod
    def _proxy_url(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False:
            return None
        return {"url": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _proxy_alone(self) -> RuleSpec:
        if self.proxy is not None:
            given = [k for k in ("respond", "then", "websocket", "stream") if k in self.model_fields_set]
            if given:
                raise _conflict(["proxy", *given], "proxy, or respond/then/websocket/stream, not both")
        return self


class DefaultsSpec(StrictModel):
    """What every rule of the scenario inherits unless it says otherwise."""

    headers: dict[str, Scalar] = Field(default_factory=dict)
    delay: Delay | None = None
    deadline: DeadlineSpec | bool = True


class TlsSpec(StrictModel):
    """TLS faults by the server name a client asks for (SNI); the handshake is before any rule."""

    hosts: dict[str, Literal["expired", "not_yet_valid", "wrong_host", "self_signed", "untrusted_ca",
                             "missing_intermediate"]] = Field(
        default_factory=dict, description="SNI host name -> certificate fault, on --tls servers")


class ScenarioSpec(StrictModel):
    """A scenario file: a name, defaults and rules."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["rules"]},
                                                           {"required": ["applies_to"]}]})

    name: str = Field(min_length=1)
    description: str | None = None
    seed: int | None = Field(None, description="seed for delays and chaos draws; --seed overrides")
    defaults: DefaultsSpec = Field(default_factory=DefaultsSpec)
    rules: list[RuleSpec] = Field(default_factory=list, description="at least one, unless applies_to")
    applies_to: list[str] | None = Field(
        None, description="an overlay: this scenario's mix, timeline, rate_limit and concurrency "
                          "also apply to the rules of these scenarios (* for all)")
    mix: list[MixEntrySpec] | None = Field(None, description="weighted outcomes for rules without their own")
    timeline: list[PhaseSpec] | None = Field(None, description="phases by time since start or reset")
    rate_limit: RateLimitSpec | None = Field(None, description="one bucket shared by all rules")
    concurrency: ConcurrencySpec | None = Field(None, description="one cap shared by all rules")
    tls: TlsSpec | None = Field(None, description="TLS faults by SNI host name (docs/tls.md)")
    header_control: bool = Field(False, description="let requests ask for a status, delay or fault "
                                                    "by headers (X-Mock-*, x-envoy-fault-*)")
    proxy_unmatched: str | ProxySpec | None = Field(
        None, description="forward every request that matches no rule to this upstream URL")
    resources: dict[str, CollectionSpec] = Field(
        default_factory=dict, description="collections of items rules operate on (docs/resources.md)")

    @field_validator("proxy_unmatched", mode="before")
    @classmethod
    def _proxy_url(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value

    quiet: list[Literal["applies_to", "secrets"]] = Field(
        default_factory=list, description="warnings to silence: applies_to (naming a scenario that "
                                          "is not loaded with this one), secrets (values that look "
                                          "like credentials)")

    @model_validator(mode="after")
    def _has_rules(self) -> ScenarioSpec:
        if not self.rules and not self.applies_to:
            raise PydanticCustomError("mock", "found {found}; expected {expected}", {
                "found": "no rules", "expected": "at least one rule (or applies_to, for an overlay)"})
        return self
