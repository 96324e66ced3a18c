"""A server's close ends its background tasks even when a cancellation is lost on the way."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from mockserver.wire import background


async def test_a_task_that_loses_its_cancellation_is_stopped_anyway() -> None:
    """As redis-py can, under a read timeout firing at the same moment: the task goes on."""
    lost = 0

    async def stubborn() -> None:
        nonlocal lost
        for _ in range(3):
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                lost += 1  # swallowed: the loop carries on
        await asyncio.sleep(30)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(background.stop([task], every=0.05), 2)
    assert task.cancelled() and lost == 3


async def test_a_task_that_never_stops_is_left_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    async def deaf() -> None:
        while True:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(30)

    task = asyncio.create_task(deaf(), name="deaf loop")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        await asyncio.wait_for(background.stop([task], within=0.3, every=0.05), 2)
    assert not task.done()
    assert caplog.messages == ["background task(s) did not stop within 0.3s: deaf loop"]
    task.cancel()  # let the test's loop close: one more cancellation lands in the sleep's except...
    task.get_coro().close()  # ...so the coroutine is closed instead
