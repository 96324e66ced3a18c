"""drop: wait, then FIN (a read timeout or a disconnect, by the client's timeout)."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, register, spec


@register
@dataclass(frozen=True, slots=True)
class Drop(Fault):
    name = "drop"
    sends_status = False
    spec_doc = "`drop` (`after:`)"
    wire_doc = "waits, then FIN"
    clients_doc = "a read timeout or a disconnect, depending on the client's timeout"

    after: float = spec(0.0, "wait this long first", duration=True)

    def detail(self) -> str:
        return f"after {self.after:g}s"

    async def apply(self, exchange: Exchange) -> None:
        if self.after:
            await exchange.closed_or(exchange.scaled(self.after))
        exchange.close()
