"""slicer: the answer cut into small writes of seeded sizes with pauses between them (Toxiproxy's
``slicer``), for parsers that assume one read holds a whole head or body."""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import Exchange, Fault, register, spec
from .pacing import raw_answer, rng, send_plan, summary


@register
@dataclass(frozen=True, slots=True)
class Slicer(Fault):
    name = "slicer"
    by_header = False  # sizes and pauses are a plan, not one header value
    spec_doc = "`slicer` (`chunk_size:`, `variation:`, `interval:`)"
    wire_doc = ("the answer, head included, in writes of `chunk_size` ± `variation` bytes (seeded, "
                "at least 1) with `interval` between them, then FIN")
    clients_doc = "a correct answer in many small reads; the same write sizes for the same seed"

    chunk_size: int = spec(8, "bytes per write", ge=1)
    variation: int = spec(0, "each write's size varies by up to this", ge=0)
    interval: float = spec(0.001, "wait between writes", duration=True)

    def detail(self) -> str:
        variation = f" ± {self.variation}" if self.variation else ""
        return f"{self.chunk_size}{variation} B every {self.interval:g}s"

    def sizes(self, total: int, draw: random.Random) -> list[int]:
        """The size of each write, summing to *total*, drawn from *draw*."""
        sizes: list[int] = []
        left = total
        while left > 0:
            size = self.chunk_size + (draw.randint(-self.variation, self.variation) if self.variation else 0)
            size = min(max(1, size), left)
            sizes.append(size)
            left -= size
        return sizes

    async def apply(self, exchange: Exchange) -> None:
        raw = raw_answer(exchange)
        sizes = self.sizes(len(raw), rng(exchange))
        exchange.note(f"slicer: {len(sizes)} writes of {summary(sizes)} bytes, {self.interval:g}s apart")
        plan, start = [], 0
        for index, size in enumerate(sizes):
            plan.append((index * self.interval, raw[start:start + size]))
            start += size
        await send_plan(exchange, plan)
