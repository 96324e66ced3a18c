"""reset: a real TCP RST (SO_LINGER 0), optionally after a wait."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, register, spec


@register
@dataclass(frozen=True, slots=True)
class Reset(Fault):
    name = "reset"
    sends_status = False
    spec_doc = "`reset` (`after:`)"
    wire_doc = "a real TCP RST (SO_LINGER 0), no bytes"
    clients_doc = "requests `ConnectionError` (reset by peer), aiohttp `ClientOSError` 104, httpx `ReadError`"

    after: float = spec(0.0, "wait this long first", duration=True)

    def detail(self) -> str:
        return f"after {self.after:g}s" if self.after else ""

    async def apply(self, exchange: Exchange) -> None:
        if self.after:
            await exchange.closed_or(exchange.scaled(self.after))
        exchange.reset()
