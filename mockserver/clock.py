"""The clock that timelines, rate limits and Retry-After read.

Served from the CLI it follows real time. Tests drive it instead of waiting: ``advance(30)``
moves every timeline and token bucket 30 seconds on at once (also over the control API), and
``freeze()`` stops real time from counting, so what a test asserts about "25 s left" does not
depend on how fast the machine ran the requests before it.
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
        self._frozen: float | None = None  # the real seconds counted when freeze() was called

    def now(self) -> float:
        real = self._frozen if self._frozen is not None else time.monotonic() - self._origin
        return real + self._offset

    def freeze(self, at: float | None = None) -> float:
        """Stop counting real time: from now on only advance() moves the clock. With *at*, the
        clock stands at that many seconds (``freeze(at=0)``: timelines start from a known point)."""
        with self._lock:
            if at is not None:
                self._frozen, self._offset = float(at), 0.0
            elif self._frozen is None:
                self._frozen = time.monotonic() - self._origin
        return self.now()

    def unfreeze(self) -> float:
        """Count real time again, from where the clock stands."""
        with self._lock:
            if self._frozen is not None:
                self._origin = time.monotonic() - self._frozen
                self._frozen = None
        return self.now()

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
            if self._frozen is not None:
                self._frozen = 0.0
