"""keepalive_drop: answer normally, and after N answers on a connection close it silently."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from . import Exchange, Fault, register, spec


@register
@dataclass(frozen=True, slots=True)
class KeepaliveDrop(Fault):
    name = "keepalive_drop"
    required = ("requests", "requests: after how many requests the connection is closed")
    by_header = False  # needs a count: a header asks for one request only
    spec_doc = "`keepalive_drop` (`requests:`)"
    wire_doc = "after N answers on a connection it is closed, silently"
    clients_doc = "the next request on a reused connection fails"

    requests: int = spec(1, "close after this many", ge=1)

    def detail(self) -> str:
        return f"after {self.requests} requests"

    async def apply(self, exchange: Exchange) -> None:
        count = exchange.count_answer()
        await exchange.answer()
        if count >= self.requests:
            # silently, with no Connection: close: the client learns on its next request
            await asyncio.sleep(0)
            exchange.close()
