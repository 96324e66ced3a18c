"""Shared by the byte-stream faults (bandwidth, latency, slicer): the whole answer as raw bytes,
a seeded random source, and a writer that sends pieces at due times on the loop's clock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from . import Exchange, head

__all__ = ["raw_answer", "rng", "send_plan", "summary"]


def raw_answer(exchange: Exchange) -> bytes:
    """The rule's answer as it goes over the wire: head (Content-Length, Connection: close) and body."""
    return head(exchange, [("Content-Length", str(len(exchange.body)))]) + exchange.body


def rng(exchange: Exchange) -> random.Random:
    """A random source fixed by the seed, rule and ordinal: one seed, one write plan."""
    return random.Random(exchange.garbage(16))


def summary(values: Sequence[float | int], limit: int = 24) -> str:
    """A plan in a few words for the journal's decisions: the first *limit* values, then a count."""
    shown = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:limit])
    more = f",... ({len(values)} in all)" if len(values) > limit else ""
    return shown + more


async def send_plan(exchange: Exchange, plan: Sequence[tuple[float, bytes]]) -> None:
    """Write each piece at its due time (scenario seconds after the start), then FIN.

    Due times are read against one start on the loop's clock, so slow writes do not push the
    end later than planned; a client that goes away ends the plan."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for due, piece in plan:
        wait = start + exchange.scaled(due) - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if exchange.is_closing():
            return
        exchange.write(piece)
    exchange.close()
