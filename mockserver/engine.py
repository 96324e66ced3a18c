"""The engine: one request snapshot in, one resolution out. Pure and synchronous.

It picks the rule (index, then priority and file order), advances that rule's counters and
state, chooses the plan and samples its delay. It never sleeps, writes or imports aiohttp: the
server carries out what the resolution says.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import catalogue
from .matching import RuleIndex
from .request import RequestSnapshot
from .responses import Plan
from .scenario import Rule, Scenario
from .state import StateStore
from .templating import Context

__all__ = ["SESSION_HEADER", "Engine", "NearMiss", "Resolution"]

SESSION_HEADER = "X-Mock-Session"


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A rule that almost matched, and what did not."""

    rule: str
    source: str
    misses: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "source": self.source, "mismatches": list(self.misses)}


@dataclass(slots=True)
class Resolution:
    """What to do with one request: the rule that won (if any), the plan, delay and deadline."""

    rule: Rule | None
    plan: Plan
    params: dict[str, str]
    ordinal: int = 0
    delay: float = 0.0
    deadline: float | None = None
    session: str = ""
    near_misses: tuple[NearMiss, ...] = field(default=())
    state: str = ""
    counter: str = ""


class Engine:
    """Immutable rules plus a reference to the mutable StateStore; swap engines to reload."""

    def __init__(self, scenarios: Iterable[Scenario], store: StateStore | None = None, *,
                 seed: int | None = None, session_header: str = SESSION_HEADER) -> None:
        self.scenarios: tuple[Scenario, ...] = tuple(scenarios)
        indexed = [rule for scenario in self.scenarios for rule in scenario.rules]
        # stable sort: priority first (higher wins), then the order rules were loaded in
        self.rules: tuple[Rule, ...] = tuple(sorted(indexed, key=lambda r: -r.priority))
        self.index = RuleIndex([rule.matcher.path for rule in self.rules])
        self.store = store if store is not None else StateStore()
        self.seed = seed
        self.session_header = session_header
        self.timeout_plan = Plan(
            504, catalogue.reason_phrase(504), (("Content-Type", "application/json"),),
            catalogue.error_body(504, "The request could not be fulfilled within the Timeout it gave."))

    def resolve(self, request: RequestSnapshot, request_id: str = "") -> Resolution:
        session_key = request.headers.get(self.session_header, "")
        rules = self.rules
        store = self.store
        for position in self.index.candidates(request.path):
            rule = rules[position]
            params = rule.matcher.match(request)
            if params is None:
                continue
            responder = rule.responder
            branch_key: str | None = None
            for branch in rule.branches:
                if branch.condition.match(request) is not None:
                    responder, branch_key = branch.responder, branch.key
                    break
            counter, state = rule.id, rule.state
            if rule.key is not None or not isinstance(state, str):
                ctx = Context(request, params, request_id)
                if rule.key is not None:
                    counter = f"{rule.id}[{rule.key.render(ctx)}]"
                    if branch_key is not None:
                        branch_key = f"{branch_key}[{rule.key.render(ctx)}]"
                if not isinstance(state, str):
                    state = state.render(ctx)
            with store.lock:
                session = store.session(session_key)
                if rule.times is not None and session.hits.get(counter, 0) >= rule.times:
                    continue
                if rule.requires_state is not None and session.state(state) != rule.requires_state:
                    continue
                ordinal = session.next_ordinal(counter)
                pick = ordinal if branch_key is None else session.next_ordinal(branch_key)
                if rule.sets_state is not None:
                    session.states[state] = rule.sets_state
            plan = responder.pick(pick)
            delay = 0.0
            if plan.delay is not None:
                seed = self.seed if self.seed is not None else (rule.seed or 0)
                delay = plan.delay.sample(seed, rule.id, ordinal)
            deadline = rule.deadline.read(request) if rule.deadline is not None else None
            return Resolution(rule, plan, params, ordinal, delay, deadline, session_key, state=state,
                              counter=counter)
        return self._unmatched(request, session_key)

    def near_misses(self, request: RequestSnapshot, limit: int = 3) -> tuple[NearMiss, ...]:
        """The rules closest to matching, with what did not match; path matches rank first."""
        ranked: list[tuple[int, int, int, NearMiss]] = []
        with self.store.lock:
            session = self.store.session(request.headers.get(self.session_header, ""))
            for position, rule in enumerate(self.rules):
                misses = rule.matcher.explain(request)
                params = rule.matcher.path.match(request.path) if rule.matcher.path is not None else {}
                ctx = Context(request, params or {}, "")
                counter = rule.id if rule.key is None else f"{rule.id}[{rule.key.render(ctx)}]"
                state = rule.state if isinstance(rule.state, str) else rule.state.render(ctx)
                if rule.times is not None and session.hits.get(counter, 0) >= rule.times:
                    misses.append(f"times: used up ({rule.times} of {rule.times})")
                current = session.state(state)
                if rule.requires_state is not None and current != rule.requires_state:
                    misses.append(f"state {state}: expected {rule.requires_state!r}, is {current!r}")
                if not misses:
                    continue
                path_ok = rule.matcher.allows_path(request.path)
                ranked.append((0 if path_ok else 1, len(misses), position,
                               NearMiss(rule.id, rule.source, tuple(misses))))
        ranked.sort(key=lambda item: item[:3])
        return tuple(item[3] for item in ranked[:limit])

    def _unmatched(self, request: RequestSnapshot, session: str) -> Resolution:
        misses = self.near_misses(request)
        body = {
            "error_code": "MOCK.0404",
            "error_msg": f"No rule matched {request.method} {request.raw_path}",
            "near_misses": [m.as_dict() for m in misses],
        }
        plan = Plan(404, catalogue.reason_phrase(404), (("Content-Type", "application/json"),),
                    json.dumps(body).encode())
        return Resolution(None, plan, {}, session=session, near_misses=misses)

    def allowed_methods(self, path: str) -> Sequence[str]:
        """Methods that some rule would accept on *path* (for Allow headers)."""
        methods: set[str] = set()
        for position in self.index.candidates(path):
            rule = self.rules[position]
            if rule.matcher.allows_path(path):
                if rule.matcher.methods is None:
                    return ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
                methods |= rule.matcher.methods
        return sorted(methods)
