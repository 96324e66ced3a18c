"""The compiled model: frozen rules and scenarios, as the loader makes them and the core reads them.

Kept apart from the loader (scenario/) so the core never imports the file format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .chaos import Concurrency, Mix, Outcome, RateLimit, ScenarioChaos
from .deadline import Deadline
from .errors import Problem
from .faults import Fault
from .matching import RequestMatcher
from .resources import Collection, Operation
from .responses import Plan, Responder
from .state import StateChange
from .streams import Stream
from .templating import Template

__all__ = ["Branch", "Proxy", "Rule", "RuntimeFault", "Scenario", "WebSocketStep"]


@dataclass(frozen=True, slots=True)
class Branch:
    """A conditional answer inside a rule."""

    condition: RequestMatcher
    responder: Responder
    key: str


@dataclass(frozen=True, slots=True)
class WebSocketStep:
    """One step of a scripted WebSocket exchange (exactly one field is set)."""

    send: str | None = None
    send_json: Any = None
    receive: bool | None = None
    echo: int | None = None
    close: int | None = None
    delay: float | None = None
    abort: bool | None = None  # faults: no close frame (FIN), a TCP RST, a reserved-opcode frame
    reset: bool | None = None
    malformed: bool | None = None


@dataclass(frozen=True, slots=True)
class Proxy:
    """Where a proxy rule (or unmatched traffic) is forwarded: the upstream's base URL, a path
    prefix to strip first, and the rule's own CA bundle and timeout (None: the server's)."""

    url: str  # scheme://host[:port][/base], without a trailing slash; "": the default upstream
    strip_prefix: str = ""
    ca: str | None = None
    timeout: float | None = None
    source: str = ""

    def target(self, path: str) -> str:
        """The upstream path for a request path: prefix stripped, base path in front."""
        if self.strip_prefix and (path == self.strip_prefix or path.startswith(self.strip_prefix + "/")):
            path = path[len(self.strip_prefix):] or "/"
        return path


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """A compiled rule: matcher, answers, and the limits and state it obeys."""

    id: str
    name: str
    scenario: str
    priority: int
    matcher: RequestMatcher
    responder: Responder
    branches: tuple[Branch, ...] = ()
    times: int | None = None
    key: Template | None = None
    state: str | Template = "default"
    requires_state: tuple[str, ...] | None = None
    sets_state: str | None = None
    state_change: StateChange | None = None  # sets_state's own later change ("rebooting for 10 s")
    deadline: Deadline | None = None
    seed: int | None = None
    source: str = ""
    fault: Fault | None = None
    mix: Mix | None = None
    rate_limit: RateLimit | None = None
    concurrency: Concurrency | None = None
    expect: Plan | None = None
    max_body: int | None = None
    max_body_retry_after: float | None = None
    require_length: bool = False
    content_types: tuple[str, ...] | None = None
    websocket: tuple[WebSocketStep, ...] | None = None
    proxy: Proxy | None = None  # forward instead of answering (wire/proxy.py)
    resource: Operation | None = None  # an operation on a collection (resources.py)
    key_source: str = ""  # file:line of key:, for the 500 when it fails on a request
    state_source: str = ""  # file:line of a templated state:
    stream: Stream | None = None  # a streaming answer (streams.py)
    arrivals_key: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "arrivals_key", self.id + "#arrivals")

    @property
    def checks_body(self) -> bool:
        """Whether the rule refuses some bodies (413, 411, 415) before they are read."""
        return self.max_body is not None or self.require_length or self.content_types is not None


@dataclass(frozen=True, slots=True)
class Scenario:
    """One loaded scenario file (or dict)."""

    name: str
    source: str
    rules: tuple[Rule, ...]
    seed: int | None = None
    description: str | None = None
    chaos: ScenarioChaos = field(default_factory=ScenarioChaos)
    applies_to: tuple[str, ...] = ()
    warnings: tuple[Problem, ...] = ()  # legitimate in some setups; validate prints them
    quiet: frozenset[str] = frozenset()
    applies_to_at: tuple[int | None, int | None] = (None, None)
    proxy_unmatched: Proxy | None = None  # forward requests that match no rule
    tls_hosts: tuple[tuple[str, str], ...] = ()  # SNI host name -> TLS certificate fault
    resources: tuple[Collection, ...] = ()  # declared collections (resources.py)


@dataclass(frozen=True, slots=True)
class RuntimeFault:
    """A fault added while serving (control API); applies to every request it matches."""

    name: str
    matcher: RequestMatcher | None
    outcome: Outcome
    probability: float
    spec: dict[str, Any]
