"""timeout: no data at all, and the connection closed after T (Toxiproxy's ``timeout``); with no
T, it stays silent until the server-wide cap on waits."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, register, spec


@register
@dataclass(frozen=True, slots=True)
class Timeout(Fault):
    name = "timeout"
    sends_status = False
    by_header = False  # hang is the header-controlled silence
    spec_doc = "`timeout` (`after:`)"
    wire_doc = ("nothing at all, then FIN after `after` (without `after`: at the server-wide cap, "
                "`--max-delay`, as Toxiproxy's timeout 0 never closes)")
    clients_doc = ("a read timeout when the client's is shorter than `after`, else http.client "
                   "`RemoteDisconnected`, httpx `RemoteProtocolError`, aiohttp `ServerDisconnectedError`")

    after: float = spec(0.0, "wait this long first", duration=True)

    def detail(self) -> str:
        return f"close after {self.after:g}s" if self.after else "never answer"

    async def apply(self, exchange: Exchange) -> None:
        wait = exchange.scaled(self.after) if self.after else exchange.max_hang
        await exchange.closed_or(min(wait, exchange.max_hang))
        exchange.close()
