"""slow_headers: nothing for a while, then the head trickled in small pieces, then the body."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, head, register, spec


@register
@dataclass(frozen=True, slots=True)
class SlowHeaders(Fault):
    name = "slow_headers"
    spec_doc = "`slow_headers` (`delay:`, `interval:`, `chunk_size:`)"
    wire_doc = "nothing for `delay`, then the status line and headers trickled"
    clients_doc = "header/first-byte timeouts"

    delay: float = spec(0.0, "wait before the status line", duration=True)
    interval: float = spec(0.1, "wait between header pieces", duration=True)
    chunk_size: int = spec(16, "bytes per header piece", ge=1)

    def detail(self) -> str:
        return f"{self.delay:g}s, then {self.chunk_size} B every {self.interval:g}s"

    async def apply(self, exchange: Exchange) -> None:
        await exchange.closed_or(exchange.scaled(self.delay))
        raw = head(exchange, [("Content-Length", str(len(exchange.body)))])
        for start in range(0, len(raw), self.chunk_size):
            if exchange.is_closing():
                return
            exchange.write(raw[start:start + self.chunk_size])
            await exchange.sleep(self.interval)
        if not exchange.is_closing():
            exchange.write(exchange.body)
            exchange.close()
