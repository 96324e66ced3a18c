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

__all__ = ["INITIAL_STATE", "Session", "StateStore"]

INITIAL_STATE = "started"


@dataclass(slots=True)
class Session:
    """Counters and named states of one session."""

    hits: dict[str, int] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, list[float]] = field(default_factory=dict)  # rate limits: [tokens, last]
    inflight: dict[str, int] = field(default_factory=dict)  # concurrency caps
    resources: dict[str, Any] = field(default_factory=dict)  # collection -> CollectionState

    def next_ordinal(self, key: str) -> int:
        """The 0-based ordinal of this hit on *key*, counting it."""
        n = self.hits.get(key, 0)
        self.hits[key] = n + 1
        return n

    def state(self, name: str) -> str:
        return self.states.get(name, INITIAL_STATE)


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

    def states(self, session: str = "") -> dict[str, str]:
        with self.lock:
            found = self._sessions.get(session)
            return dict(found.states) if found is not None else {}

    def set_state(self, name: str, value: str, session: str = "") -> None:
        with self.lock:
            self.session(session).states[name] = value

    def sessions(self) -> list[str]:
        with self.lock:
            return list(self._sessions)
