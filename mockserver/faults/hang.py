"""hang: accept, never answer; close at the server-wide cap on waits."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, register


@register
@dataclass(frozen=True, slots=True)
class Hang(Fault):
    name = "hang"
    sends_status = False
    spec_doc = "`hang`"
    wire_doc = "accepted, never answered; closed at the server-wide cap (`--max-delay`)"
    clients_doc = "read timeouts (httpx `ReadTimeout`)"

    async def apply(self, exchange: Exchange) -> None:
        await exchange.closed_or(exchange.max_hang)  # the cap is wall-clock: not time-scaled
        exchange.close()
