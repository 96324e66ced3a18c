"""The deadline semantic: a request that states how long it may wait gets 504 at that moment.

The CSS API documents ``504 ServerTimeout`` as returned "only when the Timeout parameter is
specified in the request". A rule names the parameter (default: query or header ``Timeout``);
without it, the planned answer is sent whenever it is due.
"""

from __future__ import annotations

from dataclasses import dataclass

from .durations import parse_duration
from .request import RequestSnapshot

__all__ = ["Deadline"]


@dataclass(frozen=True, slots=True)
class Deadline:
    """Where a request states its deadline, and the unit of a bare number there."""

    query: str | None = "Timeout"
    header: str | None = "Timeout"
    unit: str = "s"

    def read(self, request: RequestSnapshot) -> float | None:
        """Seconds the client will wait, or None when it did not say (or said nonsense)."""
        raw = None
        if self.query is not None:
            raw = request.query.get(self.query)
        if raw is None and self.header is not None:
            raw = request.headers.get(self.header)
        if raw is None:
            return None
        return parse_duration(raw, default_unit=self.unit)
