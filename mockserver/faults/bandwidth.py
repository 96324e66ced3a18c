"""bandwidth: the whole answer (head and body) sent at a rate in bytes per second (Toxiproxy's
``bandwidth``), so a large answer takes as long as it would on a thin link."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import Exchange, Fault, SpecProblem, register, spec
from .pacing import raw_answer, send_plan


@register
@dataclass(frozen=True, slots=True)
class Bandwidth(Fault):
    name = "bandwidth"
    by_header = False  # needs a rate (x-envoy-fault-throughput-response drips the body instead)
    spec_doc = "`bandwidth` (`rate:` and/or `upstream:` bytes/s)"
    wire_doc = ("the whole answer, head included, at `rate` bytes per second: a tenth of a second's "
                "bytes at a time, the last byte at len(answer)/rate, then FIN; `upstream:` reads the "
                "request body at that rate (a rule's own `fault:`, decided from the request head)")
    clients_doc = "slow downloads; read timeouts when a client's timeout is per read and rate is low"

    rate: float | None = spec(None, "the answer at this many bytes per second", gt=0)
    upstream: float | None = spec(None, "the request body read at this B/s", gt=0)

    @classmethod
    def spec_problem(cls, given: Mapping[str, object]) -> SpecProblem | None:
        if "rate" not in given and "upstream" not in given:
            return None, "rate (the answer's bytes per second), upstream (the request body's), or both"
        return None

    def detail(self) -> str:
        down = f"{self.rate:g} B/s" if self.rate else ""
        up = f"request body at {self.upstream:g} B/s" if self.upstream else ""
        return ", ".join(part for part in (down, up) if part)

    def plan(self, raw: bytes) -> list[tuple[float, bytes]]:
        """When each piece is due, in seconds after the start, and the piece."""
        if not self.rate:
            return [(0.0, raw)]
        piece = max(1, int(self.rate / 10))
        return [(min(start + piece, len(raw)) / self.rate, raw[start:start + piece])
                for start in range(0, len(raw), piece)]

    async def apply(self, exchange: Exchange) -> None:
        if not self.rate:  # only the request body was limited: the answer goes as usual
            await exchange.answer()
            return
        raw = raw_answer(exchange)
        plan = self.plan(raw)
        exchange.note(f"bandwidth: {len(raw)} bytes in {len(plan)} writes over "
                      f"{len(raw) / self.rate:.3g}s")
        await send_plan(exchange, plan)
