"""The journal: a bounded record of every exchange, for tests, the control API and debugging.

Recording is an append to a deque under a lock, cheap enough for the hot path; everything that
costs (filtering, rendering) happens when someone reads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Entry", "Journal"]


@dataclass(slots=True)
class Entry:
    """One exchange: the request, the rule and answer, and when things happened."""

    seq: int
    request_id: str
    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes
    client: str
    session: str
    rule: str | None
    status: int | None
    reason: str
    outcome: str  # answered | timed_out | unmatched | client_gone | error
    delay: float = 0.0
    deadline: float | None = None
    arrived: float = 0.0
    first_byte: float | None = None
    ended: float | None = None
    decisions: list[str] = field(default_factory=list)
    near_misses: tuple[Any, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (headers as a dict, body as text)."""
        return {
            "seq": self.seq, "request_id": self.request_id, "method": self.method, "path": self.path,
            "query": self.query_string, "headers": dict(self.headers),
            "body": self.body.decode("utf-8", "replace"), "client": self.client, "session": self.session,
            "rule": self.rule, "status": self.status, "reason": self.reason, "outcome": self.outcome,
            "delay": self.delay, "deadline": self.deadline, "arrived": self.arrived,
            "first_byte": self.first_byte, "ended": self.ended, "decisions": list(self.decisions),
            "near_misses": [m.as_dict() for m in self.near_misses],
        }


class Journal:
    """The last *maxlen* entries, oldest first."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.maxlen = maxlen
        self._entries: deque[Entry] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._seq = 0

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def record(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())
