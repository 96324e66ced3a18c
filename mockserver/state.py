"""Mutable per-session state: hit counters (sequences, times, ordinals) and named states.

Everything that changes while serving lives here, keyed by session (the ``X-Mock-Session``
header, empty by default), so parallel tests sharing one server do not disturb each other and
a reset is one dict clear. One lock guards it: the server's loop writes while a test thread
reads or resets.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["INITIAL_STATE", "Session", "StateChange", "StateStore", "Timer"]

INITIAL_STATE = "started"


@dataclass(frozen=True, slots=True)
class StateChange:
    """A state that changes by itself: after *after* seconds on the server's clock, or after
    *reads* answers from rules that require this state, whichever comes first, it becomes *then*."""

    after: float | None
    reads: int | None
    then: str


@dataclass(slots=True)
class Timer:
    """A pending change of one named state: when (server clock), reads left, and the next state.
    Stored, not scheduled: it is settled when the state is next read, on the one clock."""

    at: float | None
    reads: int | None
    then: str

    def due(self, now: float) -> bool:
        return (self.at is not None and now >= self.at) or (self.reads is not None and self.reads <= 0)


@dataclass(slots=True)
class Session:
    """Counters and named states of one session."""

    hits: dict[str, int] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, list[float]] = field(default_factory=dict)  # rate limits: [tokens, last]
    inflight: dict[str, int] = field(default_factory=dict)  # concurrency caps
    resources: dict[str, Any] = field(default_factory=dict)  # collection -> CollectionState
    timers: dict[str, Timer] = field(default_factory=dict)  # named states that change by themselves

    def next_ordinal(self, key: str) -> int:
        """The 0-based ordinal of this hit on *key*, counting it."""
        n = self.hits.get(key, 0)
        self.hits[key] = n + 1
        return n

    def state(self, name: str) -> str:
        return self.states.get(name, INITIAL_STATE)

    def settle(self, name: str, now: float) -> None:
        """Carry out *name*'s pending change if it is due (time reached or reads used up)."""
        timer = self.timers.get(name)
        if timer is not None and timer.due(now):
            self.states[name] = timer.then
            del self.timers[name]

    def settle_all(self, now: float) -> None:
        for name in [n for n, t in self.timers.items() if t.due(now)]:
            self.settle(name, now)

    def set(self, name: str, value: str, change: StateChange | None, now: float) -> None:
        """Move *name* to *value*; with *change*, arm its next change (else drop any pending one)."""
        self.states[name] = value
        if change is None:
            self.timers.pop(name, None)
        else:
            at = None if change.after is None else now + change.after
            self.timers[name] = Timer(at, change.reads, change.then)

    def read(self, name: str) -> None:
        """A rule that requires *name* answered: one read of a state that changes after N reads."""
        timer = self.timers.get(name)
        if timer is not None and timer.reads is not None:
            timer.reads -= 1


class StateStore:
    """All sessions, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def session(self, key: str) -> Session:
        """The session for *key*, created on first use. Call with the lock held."""
        found = self._sessions.get(key)
        if found is None:
            found = self._sessions[key] = Session()
        return found

    def reset(self, session: str | None = None) -> None:
        """Forget everything, or one session only."""
        with self.lock:
            if session is None:
                self._sessions.clear()
            else:
                self._sessions.pop(session, None)

    def states(self, session: str = "", now: float | None = None) -> dict[str, str]:
        """The session's named states; with *now* (the server clock), pending changes that are
        due are carried out first."""
        with self.lock:
            found = self._sessions.get(session)
            if found is None:
                return {}
            if now is not None and found.timers:
                found.settle_all(now)
            return dict(found.states)

    def set_state(self, name: str, value: str, session: str = "") -> None:
        with self.lock:
            found = self.session(session)
            found.states[name] = value
            found.timers.pop(name, None)

    def sessions(self) -> list[str]:
        with self.lock:
            return list(self._sessions)
