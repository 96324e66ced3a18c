"""latency: every chunk of the answer delayed by a base latency plus seeded jitter (Toxiproxy's
``latency`` with ``jitter``), for clients that time each read."""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import Exchange, Fault, register, spec
from .pacing import raw_answer, rng, send_plan, summary


@register
@dataclass(frozen=True, slots=True)
class Latency(Fault):
    name = "latency"
    required = ("delay", "delay: the wait before each chunk")
    by_header = False  # needs a delay: X-Mock-Delay delays the whole answer instead
    spec_doc = "`latency` (`delay:`, `jitter:`, `chunk_size:`)"
    wire_doc = ("the answer in `chunk_size`-byte chunks (head included), each after `delay` plus a "
                "seeded draw in [-jitter, +jitter] (never below 0), then FIN")
    clients_doc = "slow first byte and slow reads; the same pauses for the same seed"

    delay: float = spec(0.1, "the wait before each chunk", duration=True)
    jitter: float = spec(0.0, "each chunk's delay varies by up to this", duration=True)
    chunk_size: int = spec(1024, "bytes per chunk", ge=1)

    def detail(self) -> str:
        jitter = f" ± {self.jitter:g}s" if self.jitter else ""
        return f"{self.delay:g}s{jitter} per {self.chunk_size} B"

    def pauses(self, count: int, draw: random.Random) -> list[float]:
        """The wait before each chunk, in seconds, drawn from *draw*."""
        spread = [draw.uniform(-self.jitter, self.jitter) if self.jitter else 0.0 for _ in range(count)]
        return [round(max(0.0, self.delay + offset), 6) for offset in spread]

    async def apply(self, exchange: Exchange) -> None:
        raw = raw_answer(exchange)
        pieces = [raw[start:start + self.chunk_size] for start in range(0, len(raw), self.chunk_size)]
        pauses = self.pauses(len(pieces), rng(exchange))
        shown = summary([round(p * 1000) for p in pauses])
        exchange.note(f"latency: {len(pieces)} chunks, pauses {shown} ms")
        due, plan = 0.0, []
        for pause, piece in zip(pauses, pieces, strict=True):
            due += pause
            plan.append((due, piece))
        await send_plan(exchange, plan)
