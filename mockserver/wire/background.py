"""Stopping background tasks for certain: a server that closes must not wait forever on a task
that did not take its cancellation.

Why: a cancellation can be lost inside a library (redis-py's read, under a read timeout that fires
at the same moment, turns it into a TimeoutError that a retry loop then handles), and the task
goes on as if nothing happened. So the cancellation is sent again until the task ends, and the
loops also check a stop flag (see SharedJournal and Replicator).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

__all__ = ["stop"]

log = logging.getLogger("mockserver")


async def stop(tasks: Iterable[asyncio.Task[None]], *, within: float = 5.0, every: float = 0.25) -> None:
    """Cancel *tasks* and wait until they end, cancelling again every *every* seconds; after
    *within* seconds, those still running are left (and named in a warning), never waited on."""
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("background task(s) did not stop within %gs: %s", within,
                        ", ".join(sorted(task.get_name() for task in pending)))
            return
        _, pending = await asyncio.wait(pending, timeout=min(every, remaining))
