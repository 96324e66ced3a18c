"""The clock that timelines, rate limits and Retry-After read.

Served from the CLI it follows real time. Tests drive it instead of waiting: ``advance(30)``
moves every timeline and token bucket 30 seconds on at once (also over the control API).
"""

from __future__ import annotations

import threading
import time

__all__ = ["Clock"]


class Clock:
    """Monotonic seconds since start (or the last reset), plus whatever was advanced by hand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._origin = time.monotonic()
        self._offset = 0.0

    def now(self) -> float:
        return time.monotonic() - self._origin + self._offset

    def advance(self, seconds: float) -> float:
        """Jump forward; returns the new now()."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def reset(self) -> None:
        """Back to zero: timelines start over."""
        with self._lock:
            self._origin = time.monotonic()
            self._offset = 0.0
