"""malformed_status: a status line with a code that is not three digits (``200x``)."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, head, register


@register
@dataclass(frozen=True, slots=True)
class MalformedStatus(Fault):
    name = "malformed_status"
    sends_status = False
    spec_doc = "`malformed_status`"
    wire_doc = "`HTTP/1.1 200x OK`"
    clients_doc = "requests `ConnectionError` (BadStatusLine), aiohttp `ClientResponseError`"

    async def apply(self, exchange: Exchange) -> None:
        line = f"HTTP/1.1 {exchange.status}x {exchange.reason}".encode()
        exchange.write(head(exchange, [("Content-Length", str(len(exchange.body)))], line) + exchange.body)
        exchange.close()
