"""drip: a correctly framed body sent in pieces on a schedule (read timeouts between pieces)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from . import Exchange, Fault, SpecProblem, register, spec


@register
@dataclass(frozen=True, slots=True)
class Drip(Fault):
    name = "drip"
    by_header = False  # asked for by x-envoy-fault-throughput-response instead, as a rate
    spec_doc = "`drip` (`chunks:` + `over:`, or `rate:` bytes/s)"
    wire_doc = ("the status and headers at once, then a correctly framed body in pieces: "
                "`chunks: N, over: D` sends one every D/N, the first after D/N and the last at D "
                "(`chunks: 1` sends the body at D); `rate: R` sends a tenth of a second's bytes "
                "at a time, the last byte at len(body)/R")
    clients_doc = "read timeouts between pieces"

    chunks: int = spec(0, "the body in this many pieces...", ge=1)
    over: float = spec(0.0, "...spread over this long", duration=True)
    rate: float | None = spec(None, "or this many bytes per second", gt=0)

    @classmethod
    def spec_problem(cls, given: Mapping[str, object]) -> SpecProblem | None:
        if ("rate" not in given) == ("chunks" not in given and "over" not in given):
            return [k for k in ("chunks", "over", "rate") if k in given], "either chunks with over, or rate"
        return None

    def detail(self) -> str:
        return f"{self.rate:g} B/s" if self.rate else f"{self.chunks} chunks over {self.over:g}s"

    def schedule(self, body: bytes) -> list[tuple[float, bytes]]:
        """When each piece of a dripped body is due, in seconds after the headers, and the piece.

        The last piece is due when the whole body is: at ``over`` for ``chunks: N, over: D`` (N
        pieces, one every D/N, the first after D/N, so ``chunks: 1`` still takes D), and at
        len(body) / rate for ``rate:`` (pieces of a tenth of a second's bytes). A body shorter than
        N bytes goes in one-byte pieces, still ending at D; an empty body is complete at once.
        """
        size = len(body)
        if self.rate:
            piece = max(1, int(self.rate / 10))  # ten writes a second
            return [(min(start + piece, size) / self.rate, body[start:start + piece])
                    for start in range(0, size, piece)]
        count = min(max(1, self.chunks), size)
        if not count:
            return []
        bounds = [size * k // count for k in range(count + 1)]  # sizes differ by one byte at most
        return [(self.over * k / count, body[bounds[k - 1]:bounds[k]]) for k in range(1, count + 1)]

    async def apply(self, exchange: Exchange) -> None:
        # each piece waits for its due time on the loop's clock, not for a fixed pause after the
        # previous write, so slow writes do not push the end later than declared
        await exchange.start_body(len(exchange.body))
        loop = asyncio.get_running_loop()
        start = loop.time()
        for due, piece in self.schedule(exchange.body):
            wait = start + exchange.scaled(due) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if piece:
                await exchange.write_body(piece)
        await exchange.end_body()
