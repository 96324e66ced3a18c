"""close: a FIN without any response, optionally after a wait."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, register, spec


@register
@dataclass(frozen=True, slots=True)
class Close(Fault):
    name = "close"
    sends_status = False
    spec_doc = "`close` (`after:`)"
    wire_doc = "FIN without any response"
    clients_doc = ("httpx `RemoteProtocolError`, aiohttp `ServerDisconnectedError`, http.client "
                   "`RemoteDisconnected`")

    after: float = spec(0.0, "wait this long first", duration=True)

    def detail(self) -> str:
        return f"after {self.after:g}s" if self.after else ""

    async def apply(self, exchange: Exchange) -> None:
        if self.after:
            await exchange.closed_or(exchange.scaled(self.after))
        exchange.close()
