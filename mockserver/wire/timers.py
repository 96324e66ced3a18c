"""Delayed answers share their timers: those due within the same millisecond wake together.

``asyncio.sleep`` makes a future, a timer and a cancel per call, and keeps one timer per sleeper
in the loop's heap, whose pushes and pops compare in Python. With 1,000 delayed answers in
flight (benchmark case 3) that heap holds 1,000 timers, for answers that mostly fall due in the
same few milliseconds. Here a sleeper waits on a future in its millisecond's bucket, and one timer
per bucket wakes them all: each answer still goes out no earlier than its delay, and at most one
tick (1 ms) later (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import math

__all__ = ["TICK", "Sleeper"]

TICK = 0.001  # seconds: a delayed answer may go out up to this much after its delay


class Sleeper:
    """``await sleeper.sleep(seconds)``, on the loop that made it, with timers shared per tick."""

    __slots__ = ("_due", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: dict[int, list[asyncio.Future[None]]] = {}

    async def sleep(self, seconds: float) -> None:
        """Return after *seconds* (rounded up to the next tick of the loop's clock); a wait of
        zero or less only yields to the loop once, as ``asyncio.sleep(0)`` does."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = self._loop
        tick = math.ceil((loop.time() + seconds) / TICK)
        waiter: asyncio.Future[None] = loop.create_future()
        waiters = self._due.get(tick)
        if waiters is None:
            waiters = self._due[tick] = []
            loop.call_at(tick * TICK, self._wake, tick)
        waiters.append(waiter)
        await waiter  # a cancelled sleeper cancels its future; _wake passes it by

    def _wake(self, tick: int) -> None:
        for waiter in self._due.pop(tick):
            if not waiter.done():
                waiter.set_result(None)

    def pending(self) -> int:
        """Sleepers not woken yet (cancelled ones included until their tick): for tests."""
        return sum(len(waiters) for waiters in self._due.values())
