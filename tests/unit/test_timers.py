"""The delays' shared timers (wire/timers.py): never early, one timer per tick, cancel-safe."""

from __future__ import annotations

import asyncio
from typing import Any

from mockserver.wire.timers import TICK, Sleeper


def _counting_timers(loop: asyncio.AbstractEventLoop) -> list[float]:
    """Record every call_at of *loop* (the sleeper's only way to make a timer)."""
    made: list[float] = []
    call_at = loop.call_at

    def counted(when: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        made.append(when)
        return call_at(when, callback, *args)

    loop.call_at = counted  # type: ignore[method-assign]
    return made


async def test_a_sleeper_wakes_no_earlier_than_its_delay() -> None:
    loop = asyncio.get_running_loop()
    sleeper = Sleeper(loop)
    for seconds in (0.0005, 0.003, 0.02):
        before = loop.time()
        await sleeper.sleep(seconds)
        assert loop.time() >= before + seconds
    assert sleeper.pending() == 0


async def test_sleepers_due_in_one_tick_share_one_timer_and_wake_in_order() -> None:
    loop = asyncio.get_running_loop()
    made = _counting_timers(loop)
    sleeper = Sleeper(loop)
    woke: list[str] = []

    async def nap(name: str, seconds: float) -> None:
        await sleeper.sleep(seconds)
        woke.append(name)

    start = loop.time()
    # 50 sleepers due at the same instant, and one due 30 ticks later
    tasks = [asyncio.create_task(nap(f"a{i}", 0.05 - (loop.time() - start))) for i in range(50)]
    tasks.append(asyncio.create_task(nap("late", 0.08)))
    await asyncio.sleep(0)
    assert sleeper.pending() == 51
    assert len(made) <= 3  # the 50 fall in one tick (or two, if a tick boundary passed meanwhile)
    await asyncio.gather(*tasks)
    assert woke[-1] == "late" and sorted(woke[:-1]) == sorted(f"a{i}" for i in range(50))
    assert all(round(when / TICK, 6).is_integer() for when in made)  # timers sit on ticks


async def test_a_cancelled_sleeper_leaves_the_others_alone() -> None:
    loop = asyncio.get_running_loop()
    sleeper = Sleeper(loop)
    first = asyncio.create_task(sleeper.sleep(0.02))
    second = asyncio.create_task(sleeper.sleep(0.02))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.wait_for(second, 1.0)
    assert first.cancelled() and second.done() and second.exception() is None
    assert sleeper.pending() == 0


async def test_no_wait_yields_once_and_makes_no_timer() -> None:
    loop = asyncio.get_running_loop()
    made = _counting_timers(loop)
    sleeper = Sleeper(loop)
    ran: list[str] = []

    async def mark() -> None:
        ran.append("other")

    task = asyncio.create_task(mark())
    await sleeper.sleep(0)  # the other task ran meanwhile: the loop had its turn
    assert ran == ["other"]
    await sleeper.sleep(-1.0)
    assert made == [] and sleeper.pending() == 0
    await task
