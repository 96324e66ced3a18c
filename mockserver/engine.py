"""The engine: one request snapshot in, one resolution out. Pure and synchronous.

It picks the rule (index, then priority and file order), advances that rule's counters and
state, chooses the plan, samples its delay and lets chaos decide (rate limit, concurrency cap,
runtime faults, header control, timeline, mix). It never sleeps, writes or imports aiohttp:
the server carries out what the resolution says, and every decision is written down in it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import catalogue
from .backend import Bucket, Candidate, Claim, Claimed, Count, Slot, StateBackend
from .chaos import Mix, Outcome, ScenarioChaos
from .durations import parse_duration
from .faults import FAULTS, Fault
from .faults.drip import Drip
from .matching import Closeness, RuleIndex
from .request import NO_JSON, RequestSnapshot
from .resources import Collection, CollectionState, Operation, ResourceResult, collection_items, seeded
from .resources import apply as apply_resource
from .responses import Plan, Responder
from .rng import uniforms
from .rules import Rule, RuntimeFault, Scenario
from .state import INITIAL_STATE, Session, StateStore
from .templating import Context, JsonTemplate, Template, TemplateRenderError

__all__ = ["SESSION_HEADER", "Engine", "NearMiss", "Resolution"]

SESSION_HEADER = "X-Mock-Session"
_NO_CHAOS = ScenarioChaos()
_Items = list[dict[str, Any]]  # a collection's items, as the control API shows them
#: what a rule that takes a request takes it with: params, responder, branch, counter, arrivals, state
_Matched = tuple[dict[str, str], Responder, str | None, str, str, str]


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
    """What to do with one request: the rule that won (if any), the plan, delay and deadline,
    and what chaos decided (a fault, extra headers, the decisions as text)."""

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
    fault: Fault | None = None
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    # the kind of each decision that changed the answer (metrics count these; a mix that drew the
    # rule's own answer decided something, but injected nothing)
    injected: list[str] = field(default_factory=list)
    release: Callable[[], None] | None = None
    seed: int = 0
    overridden: bool = False  # chaos refused or replaced the rule's own answer
    item: object = None  # the resource item templates see as ``item`` (resources.py)
    collection: object = None  # the listing templates see as ``collection``
    failed: bool = False  # a key or state template failed: the 500 is the mock's error (Outcome.ERROR)


def _catalogue_plan(status: int, message: str | None = None) -> Plan:
    return Plan(status, catalogue.reason_phrase(status), (("Content-Type", "application/json"),),
                catalogue.error_body(status, message))


class Engine:
    """Immutable rules plus a reference to the mutable StateStore; swap engines to reload."""

    def __init__(self, scenarios: Iterable[Scenario], store: StateStore | None = None, *,
                 seed: int | None = None, session_header: str = SESSION_HEADER,
                 clock: Callable[[], float] | None = None,
                 runtime_faults: Sequence[RuntimeFault] = (), header_control: bool = False) -> None:
        self.scenarios: tuple[Scenario, ...] = tuple(scenarios)
        indexed = [rule for scenario in self.scenarios for rule in scenario.rules]
        # stable sort: priority first (higher wins), then the order rules were loaded in
        self.rules: tuple[Rule, ...] = tuple(sorted(indexed, key=lambda r: -r.priority))
        self.index = RuleIndex([rule.matcher.path for rule in self.rules],
                               [rule.matcher.methods for rule in self.rules])
        self.store = store if store is not None else StateStore()
        self.seed = seed
        self.session_header = session_header
        self.clock = clock if clock is not None else _monotonic_since(time.monotonic())
        self.runtime_faults = tuple(runtime_faults)
        self.header_control = header_control
        self.chaos = _effective_chaos(self.scenarios)
        self.collections: dict[str, Collection] = {
            c.name: c for scenario in self.scenarios for c in scenario.resources}
        # positions of the rules that chaos may touch; the others take a shorter path
        anything = bool(self.runtime_faults) or header_control
        self._chaotic = frozenset(
            position for position, rule in enumerate(self.rules)
            if anything or rule.fault is not None or rule.mix is not None or rule.rate_limit is not None
            or rule.concurrency is not None or self.chaos.get(rule.scenario, _NO_CHAOS) != _NO_CHAOS)
        self.timeout_plan = _catalogue_plan(
            504, "The request could not be fulfilled within the Timeout it gave.")
        self.throttled_plan = _catalogue_plan(429)
        self.overloaded_plan = _catalogue_plan(503, "Too many requests in flight; retry later.")
        self._status_plans: dict[int, Plan] = {}
        # only then does the server look for a rule before reading a body (413, 411, 415, 100)
        self.checks_bodies = any(r.checks_body or r.expect is not None for r in self.rules)

    # --- selection ---------------------------------------------------------------------------------

    def _match(self, rule: Rule, request: RequestSnapshot, request_id: str, session_key: str
               ) -> _Matched | Resolution | None:
        """Whether *rule* takes the request, and with what: its params, the responder of the first
        branch that matches, and the keys it counts under; a Resolution when a key failed."""
        # only a rule that names OPTIONS takes it; the server answers the others with 204 + Allow
        params = None if rule.matcher.methods is None and request.method == "OPTIONS" \
            else rule.matcher.match(request)
        if params is None:
            return None
        responder = rule.responder
        branch_key: str | None = None
        for branch in rule.branches:
            if branch.condition.match(request) is not None:
                responder, branch_key = branch.responder, branch.key
                break
        counter, arrivals, state = rule.id, rule.arrivals_key, rule.state
        if rule.key is not None or not isinstance(state, str):
            try:
                counter, arrivals, branch_key, state = self._keys(rule, request, params, request_id,
                                                                  branch_key)
            except _KeyFailed as failed:
                return self._key_failed(rule, params, session_key, failed)
        return params, responder, branch_key, counter, arrivals, state

    def resolve(self, request: RequestSnapshot, request_id: str = "") -> Resolution:
        session_key = request.headers.get(self.session_header, "")
        rules = self.rules
        store = self.store
        for position in self.index.candidates(request.path, request.method):
            rule = rules[position]
            found = self._match(rule, request, request_id, session_key)
            if found is None:
                continue
            if isinstance(found, Resolution):
                return found
            params, responder, branch_key, counter, arrivals, state = found
            chaotic = position in self._chaotic
            with store.lock:
                session = store.session(session_key)
                hits = session.hits
                answered = hits.get(counter, 0)
                if (rule.times is not None and answered >= rule.times) or (
                        rule.requires_state is not None
                        and self._current(session, state) not in rule.requires_state):
                    continue
                # arrivals number the seeded draws; answers drive sequences, times and states
                ordinal = hits.get(arrivals, 0)
                hits[arrivals] = ordinal + 1
                pick = answered if branch_key is None else hits.get(branch_key, 0)
                if not chaotic:  # nothing can refuse this answer: count it now, in one go
                    hits[counter] = answered + 1
                    if branch_key is not None:
                        hits[branch_key] = pick + 1
                    self._move_state(session, rule, state)
            plan = responder.pick(pick)
            seed = self.seed if self.seed is not None else (rule.seed or 0)
            delay, deadline = _timing(plan, rule, seed, ordinal, request)
            # positional up to seed (a third cheaper than keywords, on every request): near_misses,
            # state, counter, fault, extra_headers, decisions, injected, release, seed
            res = _with_own_fault(Resolution(rule, plan, params, ordinal, delay or 0.0, deadline, session_key,
                                             (), state, counter, rule.fault, [], [], [], None, seed),
                                  not chaotic)
            if chaotic:
                self._chaos(res, rule, self.chaos.get(rule.scenario, _NO_CHAOS), request)
                if not res.overridden:
                    self._count_answer(rule, session_key, counter, branch_key, state)
            self._resource(res, rule, request, request_id)
            return res
        res = self._unmatched(request, session_key)
        if self.runtime_faults or self.header_control:
            with store.lock:
                ordinal = store.session(session_key).next_ordinal("(unmatched)")
            res.ordinal, res.seed = ordinal, self.seed or 0
            self._overrides(res, "(unmatched)", request, self.header_control)
        return res

    # --- a shared state backend (Redis): one claim per request ----------------------------------

    async def resolve_async(self, request: RequestSnapshot, backend: StateBackend,
                            request_id: str = "") -> Resolution:
        """resolve() against a shared backend: the keys of every candidate rule go out as one
        Claim (one round trip), the decision is finished from its answer. A chaotic rule that
        chaos let through is counted with a second small trip (Count). A rule that needs no
        state at all (one answer, no times, states, delays or chaos) makes no trip."""
        session_key = request.headers.get(self.session_header, "")
        found: list[tuple[Rule, dict[str, str], Responder, Candidate]] = []
        for position in self.index.candidates(request.path, request.method):
            rule = self.rules[position]
            matched = self._match(rule, request, request_id, session_key)
            if matched is None:
                continue
            if isinstance(matched, Resolution):
                return matched
            params, responder, branch_key, counter, arrivals, state = matched
            chaotic = position in self._chaotic
            bucket, slot = self._limits(rule, request, session_key) if chaotic else (None, None)
            candidate = Candidate(counter, arrivals, branch_key, state, rule.times, rule.requires_state,
                                  rule.sets_state, not chaotic, bucket, slot, rule.state_change,
                                  rule.requires_state is not None)
            if not found and not chaotic and rule.times is None and rule.requires_state is None \
                    and rule.sets_state is None and len(responder.plans) == 1 and responder.then == "last" \
                    and responder.plans[0].delay is None:
                # static: no counter can change this answer, so no trip (its ordinal stays 0)
                seed = self.seed if self.seed is not None else (rule.seed or 0)
                only = responder.plans[0]
                res = _with_own_fault(Resolution(rule, only, params, 0, 0.0, None, session_key, state=state,
                                                 counter=counter, fault=rule.fault, seed=seed), True)
                await self._resource_shared(res, rule, request, request_id, backend)
                return res
            found.append((rule, params, responder, candidate))
            if rule.times is None and rule.requires_state is None:
                break  # this one always wins: the ones after it cannot be reached
        chaos_unmatched = bool(self.runtime_faults) or self.header_control
        claimed = await backend.claim(Claim(session_key, tuple(c for *_, c in found),
                                            "(unmatched)" if chaos_unmatched else None))
        if claimed.index < 0:
            hits = await backend.hits(session_key) if found else {}
            states = await backend.states(session_key) if found else {}
            res = self._unmatched_from(request, session_key, hits, states)
            if chaos_unmatched:
                res.ordinal, res.seed = claimed.ordinal, self.seed or 0
                self._overrides(res, "(unmatched)", request, self.header_control)
            return res
        rule, params, responder, candidate = found[claimed.index]
        plan = responder.pick(claimed.pick)
        seed = self.seed if self.seed is not None else (rule.seed or 0)
        delay, deadline = _timing(plan, rule, seed, claimed.ordinal, request)
        res = _with_own_fault(Resolution(rule, plan, params, claimed.ordinal, delay or 0.0, deadline,
                                         session_key, state=candidate.state, counter=candidate.counter,
                                         fault=rule.fault, seed=seed), candidate.count_now)
        if not candidate.count_now:
            self._chaos_claimed(res, rule, self.chaos.get(rule.scenario, _NO_CHAOS), request, candidate,
                                claimed, backend)
            if not res.overridden:
                await backend.count(Count(session_key, candidate.counter, candidate.branch, candidate.state,
                                          rule.sets_state, rule.state_change, candidate.reads))
        await self._resource_shared(res, rule, request, request_id, backend)
        return res

    def _limits(self, rule: Rule, request: RequestSnapshot,
                session: str) -> tuple[Bucket | None, Slot | None]:
        """The token bucket and the concurrency slot a request to *rule* takes, named as
        _rate_limited and _over_cap name them."""
        chaos = self.chaos.get(rule.scenario, _NO_CHAOS)
        bucket = slot = None
        limit = rule.rate_limit or chaos.rate_limit
        if limit is not None:
            scope = rule.id if rule.rate_limit is not None else f"scenario:{rule.scenario}"
            bucket = Bucket(f"{scope}|{self._limit_value(limit.key, request, session)}", limit.rate,
                            limit.burst)
        cap = rule.concurrency or chaos.concurrency
        if cap is not None:
            scope = rule.id if rule.concurrency is not None else f"scenario:{rule.scenario}"
            slot = Slot(f"{scope}|{self._limit_value(cap.key, request, session)}", cap.limit)
        return bucket, slot

    def _chaos_claimed(self, res: Resolution, rule: Rule, chaos: ScenarioChaos, request: RequestSnapshot,
                       candidate: Candidate, claimed: Claimed, backend: StateBackend) -> None:
        """_chaos, with the bucket and the slot already taken by the claim."""
        own = res.fault
        limit = rule.rate_limit or chaos.rate_limit
        if limit is not None and candidate.bucket is not None:
            if limit.headers:
                reset = 0 if claimed.admitted else limit.retry_after(claimed.wait)
                res.extra_headers += [
                    ("RateLimit-Policy", f'"burst";q={limit.burst};w={limit.window:g}'),
                    ("RateLimit", f'"burst";r={claimed.remaining};t={reset}'),
                    ("X-RateLimit-Limit", str(limit.burst)),
                    ("X-RateLimit-Remaining", str(claimed.remaining)),
                ]
            if not claimed.admitted:
                seconds = limit.retry_after(claimed.wait)
                res.plan, res.fault, res.delay, res.overridden = self.throttled_plan, None, 0.0, True
                res.extra_headers.append(("Retry-After", str(seconds)))
                res.decisions.append(
                    f"rate_limit: bucket {candidate.bucket.key} empty, Retry-After {seconds}s")
                res.injected.append("rate_limit")
                return
        cap = rule.concurrency or chaos.concurrency
        if cap is not None and candidate.slot is not None:
            if not claimed.slotted:
                seconds = max(1, math.ceil(cap.retry_after - 1e-9))
                res.plan, res.fault, res.delay, res.overridden = self.overloaded_plan, None, 0.0, True
                res.extra_headers.append(("Retry-After", str(seconds)))
                res.decisions.append(f"concurrency: {cap.limit} in flight on {candidate.slot.key}, "
                                     f"Retry-After {seconds}s")
                res.injected.append("concurrency")
                return
            if claimed.lease is not None:
                res.release = _lease_releaser(backend, res.session, candidate.slot.key, claimed.lease)
        if not (self._overrides(res, rule.id, request, self.header_control or chaos.header_control)
                or (chaos.timeline is not None and self._phase(res, rule, chaos, claimed.now))):
            mix = rule.mix or chaos.mix
            if mix is not None:
                self._draw(res, mix, f"{rule.id}/mix", "mix")
        if own is not None and res.fault is own:
            _note_fault(res, own)

    def _keys(self, rule: Rule, request: RequestSnapshot, params: dict[str, str], request_id: str,
              branch_key: str | None) -> tuple[str, str, str | None, str]:
        """Counter, arrivals and branch keys and the state name, for a keyed or templated rule.

        The templates see what a body template sees (the clock, the seed), except the ordinal:
        which arrival this is depends on the key being rendered. _KeyFailed says which failed."""
        ctx = Context(request, params, request_id, now=self.clock(),
                      seed=self.seed if self.seed is not None else (rule.seed or 0), key=rule.id)
        counter, arrivals = rule.id, rule.arrivals_key
        if rule.key is not None:
            try:
                key = rule.key.render(ctx)
            except TemplateRenderError as exc:
                raise _KeyFailed("key", rule.key_source or rule.source, str(exc)) from None
            counter = f"{rule.id}[{key}]"
            arrivals = counter + "#arrivals"
            if branch_key is not None:
                branch_key = f"{branch_key}[{key}]"
        if isinstance(rule.state, str):
            return counter, arrivals, branch_key, rule.state
        try:
            state = rule.state.render(ctx)
        except TemplateRenderError as exc:
            raise _KeyFailed("state", rule.state_source or rule.source, str(exc)) from None
        return counter, arrivals, branch_key, state

    @staticmethod
    def _key_failed(rule: Rule, params: dict[str, str], session: str, failed: _KeyFailed) -> Resolution:
        """The 500 for a key or state template that failed on this request: nothing counted,
        the template's file:line in the body and the journal (as a body template's failure)."""
        message = f"template failed at {failed.where} ({failed.field}): {failed.error}"
        res = Resolution(rule, _catalogue_plan(500, message), params, session=session, overridden=True,
                         failed=True)
        res.decisions.append(f"template failed: {failed.field} at {failed.where}: {failed.error}")
        return res

    def _count_answer(self, rule: Rule, session_key: str, counter: str, branch_key: str | None,
                      state: str) -> None:
        """Only the rule's own answer counts: a request refused or replaced by chaos leaves
        sequences, times and states as they were (a retried DELETE still deletes)."""
        with self.store.lock:
            session = self.store.session(session_key)
            session.next_ordinal(counter)
            if branch_key is not None:
                session.next_ordinal(branch_key)
            self._move_state(session, rule, state)

    def _current(self, session: Session, state: str) -> str:
        """The named state now: a pending change that is due is carried out first (lock held)."""
        if session.timers:
            session.settle(state, self.clock())
        return session.state(state)

    def _move_state(self, session: Session, rule: Rule, state: str) -> None:
        """What the rule's counted answer does to its state: one read, then sets_state (lock held)."""
        if rule.requires_state is not None and session.timers:
            session.read(state)
        if rule.sets_state is not None:
            session.set(state, rule.sets_state, rule.state_change,
                        self.clock() if rule.state_change is not None else 0.0)

    def peek(self, request: RequestSnapshot) -> Rule | None:
        """The rule a request would most likely reach, judged before its body is read.

        Used to refuse a body (413, 411, 415) or a 100-continue before it is sent. It reads no
        counters and changes nothing; body conditions are not checked, since there is no body.
        """
        for position in self.index.candidates(request.path, request.method):
            rule = self.rules[position]
            if request.method == "OPTIONS" and rule.matcher.methods is None:
                continue
            if rule.matcher.match_head(request):
                return rule
        return None

    # --- resources ---------------------------------------------------------------------------------

    def collection_state(self, name: str, session: str) -> CollectionState:
        """A session's collection, seeded on first use. Call with the store's lock held."""
        found = self.store.session(session).resources
        state = found.get(name)
        if state is None:
            state = found[name] = seeded(self.collections[name])
        assert isinstance(state, CollectionState)
        return state

    def _resource(self, res: Resolution, rule: Rule, request: RequestSnapshot, request_id: str) -> None:
        """Carry out the rule's operation on its collection, unless chaos replaced the answer; a
        missing item, a conflict or a bad paging value replaces the answer (the API's own, or the
        catalogue's 404/409/400)."""
        if rule.resource is None or res.overridden:
            return
        target = self._resource_target(res, rule.resource)
        if target is None:
            return
        now = self.clock()
        with self.store.lock:
            state = self.collection_state(target.name, res.session)
            result = self._operate(res, rule.resource, target, request, request_id, state, now)
        self._resource_answer(res, rule.resource, target, result)

    async def _resource_shared(self, res: Resolution, rule: Rule, request: RequestSnapshot, request_id: str,
                               backend: StateBackend) -> None:
        """_resource through a shared backend: one check-and-set of the session's collection, on
        the backend's clock (StateUnavailable when it cannot be reached, or keeps changing)."""
        op = rule.resource
        if op is None or res.overridden:
            return
        target = self._resource_target(res, op)
        if target is None:
            return

        def operate(found: CollectionState | None, now: float) -> tuple[CollectionState, ResourceResult]:
            state = found if found is not None else seeded(target)
            return state, self._operate(res, op, target, request, request_id, state, now)

        self._resource_answer(res, op, target, await backend.resource(res.session, op.collection, operate))

    def _operate(self, res: Resolution, op: Operation, spec: Collection, request: RequestSnapshot,
                 request_id: str, state: CollectionState, now: float) -> ResourceResult:
        """The operation on *state* at *now*; what templates see of it is kept in *res* as a snapshot."""

        def render(template: object, item: object) -> object:
            ctx = Context(request, res.params, request_id, now=now, seed=res.seed, ordinal=res.ordinal,
                          key=res.counter, item=item)
            if isinstance(template, Template):
                return template.value(ctx)
            if isinstance(template, JsonTemplate):
                return json.loads(template.render(ctx))
            return json.loads(json.dumps(template))

        body = request.json
        # ids are reproducible under --seed or the scenario's seed: (docs/resources.md); else random
        seed = self.seed if self.seed is not None or res.rule is None else res.rule.seed
        result = apply_resource(op, spec, state, now, render, None if body is NO_JSON else body,
                                seed=seed, session=res.session)
        # templates read a snapshot: a later request must not change what this one answers
        res.item = json.loads(json.dumps(result.item)) if result.item is not None else None
        res.collection = json.loads(json.dumps(result.collection)) if result.collection is not None else None
        return result

    def _resource_target(self, res: Resolution, op: Operation) -> Collection | None:
        """The collection *op* names; None (with the 500 in *res*) when no loaded scenario declares it."""
        spec = self.collections.get(op.collection)
        if spec is None:  # an overlay loaded without the scenario that declares the collection
            res.plan, res.fault = _catalogue_plan(500, f"no collection {op.collection!r} is loaded "
                                                       f"({op.source})"), None
            res.decisions.append(f"resource {op.collection}: not loaded")
        return spec

    @staticmethod
    def _resource_answer(res: Resolution, op: Operation, spec: Collection, result: ResourceResult) -> None:
        """What the outcome does to the answer: a change is noted; missing, conflict or invalid
        replaces the plan (the rule's own missing/conflict answer, or the catalogue's)."""
        if result.change:
            res.decisions.append(result.change)
        if result.kind == "ok":
            return
        res.decisions.append(f"resource {spec.name}: {result.kind}, {result.message}")
        chosen = {"missing": op.missing, "conflict": op.conflict}.get(result.kind)
        if isinstance(chosen, Plan):
            res.plan = chosen
        else:
            status = {"missing": 404, "conflict": 409}.get(result.kind, 400)
            res.plan = _catalogue_plan(status, result.message)
        res.fault = None  # the replacing answer's own delay, or none (a 404 comes at once)
        res.delay = 0.0 if res.plan.delay is None else res.plan.delay.sample(
            res.seed, res.counter + "/resource", res.ordinal)

    async def read_collection(self, backend: StateBackend, name: str, session: str) -> list[dict[str, Any]]:
        """A session's collection *name* as it is now (lifecycles applied), through *backend*."""
        spec = self.collections[name]

        def operate(found: CollectionState | None, now: float) -> tuple[CollectionState, _Items]:
            state = found if found is not None else seeded(spec)
            return state, collection_items(state, now)

        return await backend.resource(session, name, operate)

    async def write_collection(self, backend: StateBackend, name: str, state: CollectionState,
                               session: str) -> list[dict[str, Any]]:
        """Replace a session's collection *name* with *state* through *backend*; its items now."""

        def operate(found: CollectionState | None, now: float) -> tuple[CollectionState, _Items]:
            del found  # replaced whole
            fresh = copy.deepcopy(state)
            return fresh, collection_items(fresh, now)

        return await backend.resource(session, name, operate)

    # --- chaos -------------------------------------------------------------------------------------

    def _chaos(self, res: Resolution, rule: Rule, chaos: ScenarioChaos, request: RequestSnapshot) -> None:
        """Apply, in order: rate limit, concurrency cap, runtime faults and header control,
        timeline, mix. A refusal or an override ends the chain; delays add up."""
        own = res.fault  # the rule's fault, or the sequence item's
        if self._rate_limited(res, rule, chaos, request) or self._over_cap(res, rule, chaos, request):
            return
        if not (self._overrides(res, rule.id, request, self.header_control or chaos.header_control)
                or (chaos.timeline is not None and self._phase(res, rule, chaos))):
            mix = rule.mix or chaos.mix
            if mix is not None:
                self._draw(res, mix, f"{rule.id}/mix", "mix")
        if own is not None and res.fault is own:  # nothing replaced the rule's own fault
            _note_fault(res, own)

    def _rate_limited(self, res: Resolution, rule: Rule, chaos: ScenarioChaos,
                      request: RequestSnapshot) -> bool:
        limit = rule.rate_limit or chaos.rate_limit
        if limit is None:
            return False
        scope = rule.id if rule.rate_limit is not None else f"scenario:{rule.scenario}"
        bucket_key = f"{scope}|{self._limit_value(limit.key, request, res.session)}"
        now = self.clock()
        with self.store.lock:
            session = self.store.session(res.session)
            bucket = session.buckets.setdefault(bucket_key, [float(limit.burst), now])
            admitted, wait = limit.take(bucket, now)
            remaining = int(bucket[0])
        if limit.headers:
            reset = 0 if admitted else limit.retry_after(wait)
            res.extra_headers += [
                ("RateLimit-Policy", f'"burst";q={limit.burst};w={limit.window:g}'),
                ("RateLimit", f'"burst";r={remaining};t={reset}'),
                ("X-RateLimit-Limit", str(limit.burst)),
                ("X-RateLimit-Remaining", str(remaining)),
            ]
        if admitted:
            return False
        seconds = limit.retry_after(wait)
        res.plan, res.fault, res.delay, res.overridden = self.throttled_plan, None, 0.0, True
        res.extra_headers.append(("Retry-After", str(seconds)))
        res.decisions.append(f"rate_limit: bucket {bucket_key} empty, Retry-After {seconds}s")
        res.injected.append("rate_limit")
        return True

    def _over_cap(self, res: Resolution, rule: Rule, chaos: ScenarioChaos, request: RequestSnapshot) -> bool:
        cap = rule.concurrency or chaos.concurrency
        if cap is None:
            return False
        scope = rule.id if rule.concurrency is not None else f"scenario:{rule.scenario}"
        slot = f"{scope}|{self._limit_value(cap.key, request, res.session)}"
        with self.store.lock:
            session = self.store.session(res.session)
            in_flight = session.inflight.get(slot, 0)
            if in_flight < cap.limit:
                session.inflight[slot] = in_flight + 1
                res.release = _releaser(self.store, session, slot)
                return False
        seconds = max(1, math.ceil(cap.retry_after - 1e-9))
        res.plan, res.fault, res.delay, res.overridden = self.overloaded_plan, None, 0.0, True
        res.extra_headers.append(("Retry-After", str(seconds)))
        res.decisions.append(f"concurrency: {cap.limit} in flight on {slot}, Retry-After {seconds}s")
        res.injected.append("concurrency")
        return True

    def _phase(self, res: Resolution, rule: Rule, chaos: ScenarioChaos, now: float | None = None) -> bool:
        assert chaos.timeline is not None
        now = self.clock() if now is None else now
        found = chaos.timeline.at(now)
        if found is None:
            return False
        index, phase = found
        left = phase.end - now
        label = f"timeline: phase {index} ({phase.label()}), {left:.1f}s left"
        if phase.outcome is not None:
            self._apply(res, phase.outcome, label, "timeline")
        elif phase.mix is not None:
            self._draw(res, phase.mix, f"{rule.id}/phase{index}", label, "timeline")
        else:
            res.decisions.append(label)
        if phase.retry_after is not None:
            wait = left if phase.retry_after == "remaining" else float(phase.retry_after)
            res.extra_headers.append(("Retry-After", str(max(1, math.ceil(wait - 1e-9)))))
        return True

    def _draw(self, res: Resolution, mix: Mix, key: str, label: str, kind: str = "mix") -> None:
        u, _ = uniforms(res.seed, key, res.ordinal)
        index, outcome = mix.pick(u)
        self._apply(res, outcome, f"{label}: draw {u:.4f} -> {outcome.describe()} ({mix.share(index):.0%})",
                    kind)

    def _apply(self, res: Resolution, outcome: Outcome, decision: str, kind: str) -> None:
        """Carry out a chosen outcome; only one that changes the answer counts as injected."""
        if outcome.plan is not None or outcome.fault is not None or outcome.delay:
            res.injected.append(kind)
        if outcome.plan is not None or outcome.fault is not None:
            res.overridden = True
        if outcome.plan is not None:
            res.plan, res.fault = outcome.plan, outcome.plan.fault
            if outcome.plan.delay is not None:
                res.delay = outcome.plan.delay.sample(res.seed, res.counter + "/outcome", res.ordinal)
        if outcome.fault is not None:
            res.fault = outcome.fault
        res.delay += outcome.delay
        res.decisions.append(decision)

    def _overrides(self, res: Resolution, key: str, request: RequestSnapshot, header_control: bool) -> bool:
        """Runtime faults (control API), then header control. True when one decided."""
        for fault in self.runtime_faults:
            if fault.matcher is not None and fault.matcher.match(request) is None:
                continue
            if fault.probability < 1.0:
                u, _ = uniforms(res.seed, f"runtime/{fault.name}/{key}", res.ordinal)
                if u >= fault.probability:
                    continue
            self._apply(res, fault.outcome, f"runtime fault {fault.name}: {fault.outcome.describe()}",
                        f"runtime fault {fault.name}")
            return True
        if header_control:
            before = len(res.decisions)
            decided = self._header_control(res, key, request)
            res.injected.extend("header control" for _ in res.decisions[before:])
            return decided
        return False

    def _header_control(self, res: Resolution, key: str, request: RequestSnapshot) -> bool:
        headers = request.headers
        decided = False

        def chance(name: str) -> bool:
            raw = headers.get(f"{name}-percentage")
            if raw is None:
                return True
            try:
                percent = float(raw)
            except ValueError:
                return True
            u, _ = uniforms(res.seed, f"{key}/{name}", res.ordinal)
            return u * 100 < percent

        refusal = _control_header_problem(headers)
        if refusal is not None:  # a test that asks for chaos and silently gets none passes wrongly
            res.plan, res.fault, res.overridden = _catalogue_plan(400, refusal), None, True
            res.decisions.append(f"header control: refused, {refusal}")
            return True
        status_text = headers.get("X-Mock-Status") or headers.get("x-envoy-fault-abort-request")
        if status_text is not None and _ascii_digits(status_text) and 100 <= int(status_text) <= 599 \
                and chance("x-envoy-fault-abort-request"):
            status = int(status_text)
            plan = self._status_plans.get(status)
            if plan is None:
                body = catalogue.error_body(status) if status >= 400 else b""
                headers_out = (("Content-Type", "application/json"),) if body else ()
                plan = self._status_plans[status] = Plan(status, catalogue.reason_phrase(status),
                                                         headers_out, body)
            res.plan, res.fault, res.overridden = plan, None, True
            res.decisions.append(f"header control: status {status}")
            decided = True
        delay_text = headers.get("X-Mock-Delay")
        envoy_delay = headers.get("x-envoy-fault-delay-request")
        extra = parse_duration(delay_text) if delay_text is not None else (
            parse_duration(envoy_delay, default_unit="ms") if envoy_delay is not None else None)
        if extra is not None and (delay_text is not None or chance("x-envoy-fault-delay-request")):
            res.delay += extra
            res.decisions.append(f"header control: delay +{extra:g}s")
            decided = True
        fault_name = headers.get("X-Mock-Fault")
        if fault_name in HEADER_FAULTS:
            res.fault, res.overridden = FAULTS[fault_name](), True
            res.decisions.append(f"header control: fault {fault_name}")
            decided = True
        throughput = headers.get("x-envoy-fault-throughput-response")
        if throughput is not None and _ascii_digits(throughput) and int(throughput) > 0 \
                and chance("x-envoy-fault-throughput-response"):
            res.fault = Drip(rate=int(throughput) * 1024.0)
            res.decisions.append(f"header control: throughput {throughput} KiB/s")
            decided = True
        return decided

    @staticmethod
    def _limit_value(kind: str, request: RequestSnapshot, session: str) -> str:
        if kind == "global":
            return "*"
        if kind == "client":
            return request.client
        if kind == "session":
            return session
        return request.headers.get(kind.partition(":")[2], "")

    # --- misses ------------------------------------------------------------------------------------

    def near_misses(self, request: RequestSnapshot, limit: int = 3) -> tuple[NearMiss, ...]:
        """The rules closest to matching, with what did not match.

        Rules whose path matches come first (something else missed), then the others by how
        close the path is (segments, then the spelling of each) and whether the method is right,
        so ``GET /order/7`` names ``GET /orders/{id}`` first whatever order the rules were loaded in.
        """
        with self.store.lock:
            session = self.store.session(request.headers.get(self.session_header, ""))
            if session.timers:
                session.settle_all(self.clock())
            return self._near(request, session.hits, session.states, limit)

    def _near(self, request: RequestSnapshot, hits: Mapping[str, int], states: Mapping[str, str],
              limit: int = 3) -> tuple[NearMiss, ...]:
        """near_misses() over counters and states read already (from the store or a backend)."""
        ranked: list[tuple[int, float, int, int, NearMiss]] = []
        probe = Closeness(request.path)
        for position, rule in enumerate(self.rules):
            misses = rule.matcher.explain(request)
            params = rule.matcher.path.match(request.path) if rule.matcher.path is not None else {}
            counter, state = rule.id, rule.state if isinstance(rule.state, str) else ""
            try:
                if rule.key is not None or not isinstance(rule.state, str):
                    counter, _, _, state = self._keys(rule, request, params or {}, "", None)
            except _KeyFailed as failed:
                misses.append(f"{failed.field}: template failed at {failed.where}: {failed.error}")
            if rule.times is not None and hits.get(counter, 0) >= rule.times:
                misses.append(f"times: used up ({rule.times} of {rule.times})")
            current = states.get(state, INITIAL_STATE)
            if rule.requires_state is not None and current not in rule.requires_state:
                wanted = " or ".join(repr(x) for x in rule.requires_state)
                misses.append(f"state {state}: expected {wanted}, is {current!r}")
            if not misses:
                continue
            path_ok = rule.matcher.allows_path(request.path)
            closeness = round(rule.matcher.closeness(request, probe), 6)
            ranked.append((0 if path_ok else 1, -closeness, len(misses), position,
                           NearMiss(rule.id, rule.source, tuple(misses))))
        ranked.sort(key=lambda item: item[:4])
        return tuple(item[4] for item in ranked[:limit])

    def _unmatched(self, request: RequestSnapshot, session: str) -> Resolution:
        return self._unmatched_with(request, session, self.near_misses(request))

    def _unmatched_from(self, request: RequestSnapshot, session: str, hits: Mapping[str, int],
                        states: Mapping[str, str]) -> Resolution:
        return self._unmatched_with(request, session, self._near(request, hits, states))

    def _unmatched_with(self, request: RequestSnapshot, session: str,
                        misses: tuple[NearMiss, ...]) -> Resolution:
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


HEADER_FAULTS = tuple(name for name, cls in FAULTS.items() if cls.by_header)


class _KeyFailed(Exception):
    """A key or state template failed on a request: which field, where it is written, why."""

    def __init__(self, field: str, where: str, error: str) -> None:
        super().__init__(f"{field} at {where}: {error}")
        self.field, self.where, self.error = field, where, error


def _timing(plan: Plan, rule: Rule, seed: int, ordinal: int,
            request: RequestSnapshot) -> tuple[float | None, float | None]:
    """The delay drawn for this ordinal, and the request's own deadline when the rule reads one."""
    if plan.delay is None:
        return None, None
    return (plan.delay.sample(seed, rule.id, ordinal),
            rule.deadline.read(request) if rule.deadline is not None else None)


def _with_own_fault(res: Resolution, note: bool) -> Resolution:
    """A sequence item's fault replaces the rule's for its turn; *note*: journal it now (a chaotic
    rule's own fault is journaled after chaos, if chaos left it in place)."""
    fault = res.plan.fault
    if fault is not None:
        res.fault = fault
        if note:
            _note_fault(res, fault)
    return res


def _note_fault(res: Resolution, fault: Fault) -> None:
    """Journal the fault the rule's own answer does: a sequence item says which one it was."""
    if res.plan.fault is fault:
        res.decisions.append(f"fault: {fault.describe()} (sequence answer at {res.plan.source})")
    else:
        res.decisions.append(f"fault: {fault.describe()}")
    res.injected.append("fault")


def _ascii_digits(text: str) -> bool:
    """str.isdigit() is true for "²" (a UTF-8 header value), which int() refuses."""
    return text.isascii() and text.isdigit()


def _control_header_problem(headers: Mapping[str, str]) -> str | None:
    """What is wrong with the X-Mock-* control headers, or None (Envoy's are lenient as Envoy is)."""
    status = headers.get("X-Mock-Status")
    if status is not None and not (_ascii_digits(status) and 100 <= int(status) <= 599):
        return f"X-Mock-Status: found {status!r}; expected an HTTP status code from 100 to 599"
    delay = headers.get("X-Mock-Delay")
    if delay is not None and parse_duration(delay) is None:
        return f"X-Mock-Delay: found {delay!r}; expected a duration such as 1.5, 250ms or 2s"
    fault = headers.get("X-Mock-Fault")
    if fault is not None and fault not in HEADER_FAULTS:
        return f"X-Mock-Fault: found {fault!r}; expected one of {', '.join(HEADER_FAULTS)}"
    return None


def _effective_chaos(scenarios: Sequence[Scenario]) -> dict[str, ScenarioChaos]:
    """Each scenario's chaos, with overlays (``applies_to``) laid over their targets: an
    overlay's timeline, mix, limits and header control win over the target's own."""
    effective = {s.name: s.chaos for s in scenarios}
    for overlay in scenarios:
        if not overlay.applies_to:
            continue
        for name, base in list(effective.items()):
            if name == overlay.name or ("*" not in overlay.applies_to and name not in overlay.applies_to):
                continue
            top = overlay.chaos
            effective[name] = ScenarioChaos(
                mix=top.mix or base.mix, timeline=top.timeline or base.timeline,
                rate_limit=top.rate_limit or base.rate_limit,
                concurrency=top.concurrency or base.concurrency,
                header_control=top.header_control or base.header_control)
    return effective


def _monotonic_since(origin: float) -> Callable[[], float]:
    return lambda: time.monotonic() - origin


def _releaser(store: StateStore, session: Session, slot: str) -> Callable[[], None]:
    done = False

    def release() -> None:
        nonlocal done
        if done:
            return
        done = True
        with store.lock:
            left = session.inflight.get(slot, 0) - 1
            if left > 0:
                session.inflight[slot] = left
            else:
                session.inflight.pop(slot, None)

    return release


def _lease_releaser(backend: StateBackend, session: str, slot: str, lease: str) -> Callable[[], None]:
    """Give the slot back once, from the server's loop, without waiting for the answer."""
    done = False

    def release() -> None:
        nonlocal done
        if done:
            return
        done = True
        task = asyncio.get_running_loop().create_task(backend.release(session, slot, lease))
        _PENDING.add(task)
        task.add_done_callback(_released)

    return release


_PENDING: set[asyncio.Task[None]] = set()


def _released(task: asyncio.Task[None]) -> None:
    """A release that failed leaves the lease to expire (its lease time); nothing to raise."""
    _PENDING.discard(task)
    if not task.cancelled():
        task.exception()
