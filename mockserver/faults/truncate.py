"""truncate: promise the whole body (Content-Length), send part of it, then FIN."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, head, register, spec


@register
@dataclass(frozen=True, slots=True)
class Truncate(Fault):
    name = "truncate"
    spec_doc = "`truncate` (`bytes:` or `fraction:`)"
    wire_doc = "full `Content-Length`, part of the body, then FIN"
    clients_doc = "aiohttp `ClientPayloadError`, http.client `IncompleteRead`"

    bytes: int | None = spec(None, "body bytes sent", ge=0)
    fraction: float = spec(0.5, "share of the body sent", ge=0, lt=1)

    def detail(self) -> str:
        return f"{self.bytes} bytes" if self.bytes is not None else f"{self.fraction:.0%} of the body"

    async def apply(self, exchange: Exchange) -> None:
        body = exchange.body
        sent = self.bytes if self.bytes is not None else int(len(body) * self.fraction)
        sent = min(sent, max(len(body) - 1, 0))  # always short: at least one byte missing
        exchange.write(head(exchange, [("Content-Length", str(len(body)))]) + body[:sent])
        exchange.close()
