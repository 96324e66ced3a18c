"""The state backend interface: every stateful primitive, one batched operation per request.

The engine works out the keys a request touches (its candidate rules' counters, the state each
needs, the token bucket and the concurrency slot of each), sends them as one ``Claim``, and
finishes the decision from the ``Claimed`` answer. A backend applies a claim atomically: in
memory under one lock, in Redis as one Lua script (``wire/redis_state.py``), so N replicas on one
Redis count as one mock. Time that decides outcomes (buckets, timelines) is the backend's clock.
No I/O here: this module is the contract and the in-memory backend.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .clock import Clock
from .resources import CollectionState
from .state import StateChange, StateStore

__all__ = ["STATE_UNAVAILABLE", "Bucket", "Candidate", "Claim", "Claimed", "Count", "MemoryBackend",
           "Operate", "Slot", "StateBackend", "StateUnavailable"]


#: the 503's error_msg when the state backend cannot be reached (docs/scale-out.md)
STATE_UNAVAILABLE = "The mock's state backend is unavailable; nothing was counted. Retry later."


class StateUnavailable(Exception):
    """The backend could not be reached in time: the request is answered 503, nothing counted."""


_T = TypeVar("_T")

#: one operation on a session's collection: given the collection as stored (None: never used
#: or reset, so the seed) and the backend's clock, the collection to store and the outcome. A
#: shared backend may call it again on a fresh copy when another replica wrote first, so it
#: changes nothing but the collection it is given (and what it returns).
Operate = Callable[[CollectionState | None, float], tuple[CollectionState, _T]]


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket to take one token from: *rate* per second up to *burst*."""

    key: str
    rate: float
    burst: int


@dataclass(frozen=True, slots=True)
class Slot:
    """A concurrency slot to lease: at most *limit* leases on *key*. A shared backend lets a
    lease expire (its lease time), so a replica that dies holding one frees it."""

    key: str
    limit: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """One rule that matched the request, in the order the engine would try them."""

    counter: str  # answers: sequences, times
    arrivals: str  # arrivals: the ordinal behind seeded draws
    branch: str | None  # a branch's own answer counter
    state: str  # the named state this rule reads and sets
    times: int | None
    requires: tuple[str, ...] | None
    sets_state: str | None
    count_now: bool  # nothing can refuse the answer: count it in the same trip
    bucket: Bucket | None = None
    slot: Slot | None = None
    change: StateChange | None = None  # sets_state's own later change, armed when it is set
    reads: bool = False  # requires its state: its answer is one read of a state that changes after N


@dataclass(frozen=True, slots=True)
class Claim:
    """What one request asks of the state: the first candidate whose times and state allow it
    wins; its arrival is numbered, its answer counted if count_now, its bucket and slot taken.
    *unmatched*: a key to number when no candidate wins (chaos on unmatched requests)."""

    session: str
    candidates: tuple[Candidate, ...]
    unmatched: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """The outcome of a claim. index -1: no candidate won (ordinal then numbers *unmatched*)."""

    index: int
    ordinal: int = 0
    pick: int = 0  # the answer (or branch) counter before this request: which plan to send
    now: float = 0.0  # the backend's clock, for timelines and Retry-After
    admitted: bool = True  # the bucket had a token (or there was no bucket)
    wait: float = 0.0  # seconds until the bucket has a token again
    remaining: int = 0  # tokens left in the bucket
    slotted: bool = True  # the slot had room (or there was no slot)
    lease: str | None = None  # the lease to release when the answer is done


@dataclass(frozen=True, slots=True)
class Count:
    """Count a chaotic rule's own answer after chaos let it through (a second, small trip)."""

    session: str
    counter: str
    branch: str | None
    state: str
    sets_state: str | None
    change: StateChange | None = None
    reads: bool = False


class StateBackend(Protocol):
    """Every stateful primitive of a mock, shared by whoever holds the same backend."""

    #: True: the engine may call claim_now() synchronously (in-process, no I/O)
    local: bool

    async def claim(self, claim: Claim) -> Claimed: ...
    async def count(self, count: Count) -> None: ...
    async def release(self, session: str, slot: str, lease: str) -> None: ...
    async def resource(self, session: str, name: str, operate: Operate[_T]) -> _T:
        """Run *operate* on the session's collection *name* atomically (resources.py)."""
        ...
    async def now(self) -> float: ...
    async def advance(self, seconds: float) -> float: ...
    async def freeze(self, at: float | None = None) -> float: ...
    async def unfreeze(self) -> float: ...
    async def reset(self, session: str | None = None, *, clock: bool = False) -> None: ...
    async def states(self, session: str = "") -> dict[str, str]: ...
    async def set_state(self, name: str, value: str, session: str = "") -> None: ...
    async def hits(self, session: str = "") -> dict[str, int]: ...
    async def sessions(self) -> list[str]: ...
    async def healthy(self) -> str | None:
        """None when usable, else what is wrong (for /__mock/health)."""
        ...
    async def close(self) -> None: ...


class MemoryBackend:
    """The default: a StateStore and a clock in this process, one lock per claim."""

    local = True

    def __init__(self, store: StateStore | None = None, clock: Clock | None = None,
                 time_scale: float = 1.0) -> None:
        self.store = store if store is not None else StateStore()
        self.clock = clock if clock is not None else Clock()
        self.time_scale = time_scale
        self._leases = itertools.count(1)
        self._held: dict[str, tuple[str, str]] = {}
        self._held_lock = threading.Lock()

    def scaled_now(self) -> float:
        now = self.clock.now()
        return now / self.time_scale if self.time_scale > 0 else now

    def claim_now(self, claim: Claim) -> Claimed:
        """Apply *claim* under the store's lock: the semantics every backend must match."""
        with self.store.lock:
            session = self.store.session(claim.session)
            hits = session.hits
            clock: float | None = None
            for index, c in enumerate(claim.candidates):
                answered = hits.get(c.counter, 0)
                if session.timers and c.requires is not None:
                    clock = self.scaled_now() if clock is None else clock
                    session.settle(c.state, clock)
                if (c.times is not None and answered >= c.times) or (
                        c.requires is not None and session.state(c.state) not in c.requires):
                    continue
                ordinal = hits.get(c.arrivals, 0)
                hits[c.arrivals] = ordinal + 1
                pick = answered if c.branch is None else hits.get(c.branch, 0)
                if c.count_now:
                    hits[c.counter] = answered + 1
                    if c.branch is not None:
                        hits[c.branch] = pick + 1
                    if c.reads and session.timers:
                        session.read(c.state)
                    if c.sets_state is not None:
                        session.set(c.state, c.sets_state, c.change, self.scaled_now())
                now = 0.0 if c.count_now else self.scaled_now()
                admitted, wait, remaining = True, 0.0, 0
                if c.bucket is not None:
                    b = c.bucket
                    tokens, last = session.buckets.setdefault(b.key, [float(b.burst), now])
                    tokens = min(float(b.burst), tokens + (now - last) * b.rate)
                    if tokens >= 1.0:
                        tokens -= 1.0
                    else:
                        admitted, wait = False, (1.0 - tokens) / b.rate
                    session.buckets[b.key] = [tokens, now]
                    remaining = int(tokens)
                slotted, lease = True, None
                if c.slot is not None and admitted:
                    in_flight = session.inflight.get(c.slot.key, 0)
                    if in_flight < c.slot.limit:
                        session.inflight[c.slot.key] = in_flight + 1
                        lease = str(next(self._leases))
                    else:
                        slotted = False
                return Claimed(index, ordinal, pick, now, admitted, wait, remaining, slotted, lease)
            ordinal = 0
            if claim.unmatched is not None:
                ordinal = session.next_ordinal(claim.unmatched)
            return Claimed(-1, ordinal)

    def count_now(self, count: Count) -> None:
        with self.store.lock:
            session = self.store.session(count.session)
            session.next_ordinal(count.counter)
            if count.branch is not None:
                session.next_ordinal(count.branch)
            if count.reads and session.timers:
                session.read(count.state)
            if count.sets_state is not None:
                session.set(count.state, count.sets_state, count.change, self.scaled_now())

    def release_now(self, session: str, slot: str, lease: str) -> None:
        del lease  # in memory a count is enough; the lease id only guards Redis's sorted sets
        with self.store.lock:
            found = self.store.session(session)
            left = found.inflight.get(slot, 0) - 1
            if left > 0:
                found.inflight[slot] = left
            else:
                found.inflight.pop(slot, None)

    def resource_now(self, session: str, name: str, operate: Operate[_T]) -> _T:
        """*operate* under the store's lock, on the collection as it is kept in memory."""
        with self.store.lock:
            found = self.store.session(session).resources
            state, out = operate(found.get(name), self.scaled_now())
            found[name] = state
            return out

    async def claim(self, claim: Claim) -> Claimed:
        return self.claim_now(claim)

    async def resource(self, session: str, name: str, operate: Operate[_T]) -> _T:
        return self.resource_now(session, name, operate)

    async def count(self, count: Count) -> None:
        self.count_now(count)

    async def release(self, session: str, slot: str, lease: str) -> None:
        self.release_now(session, slot, lease)

    async def now(self) -> float:
        return self.scaled_now()

    async def advance(self, seconds: float) -> float:
        self.clock.advance(seconds)
        return self.scaled_now()

    async def freeze(self, at: float | None = None) -> float:
        self.clock.freeze(at)
        return self.scaled_now()

    async def unfreeze(self) -> float:
        self.clock.unfreeze()
        return self.scaled_now()

    async def reset(self, session: str | None = None, *, clock: bool = False) -> None:
        self.store.reset(session)
        if clock:
            self.clock.reset()

    async def states(self, session: str = "") -> dict[str, str]:
        return self.store.states(session, self.scaled_now())

    async def set_state(self, name: str, value: str, session: str = "") -> None:
        self.store.set_state(name, value, session)

    async def hits(self, session: str = "") -> dict[str, int]:
        with self.store.lock:
            return dict(self.store.session(session).hits)

    async def sessions(self) -> list[str]:
        return self.store.sessions()

    async def healthy(self) -> str | None:
        return None

    async def close(self) -> None:
        return None
