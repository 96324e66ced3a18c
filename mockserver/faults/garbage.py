"""garbage: seeded random bytes instead of a response, then FIN."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, register, spec


@register
@dataclass(frozen=True, slots=True)
class Garbage(Fault):
    name = "garbage"
    sends_status = False
    spec_doc = "`garbage` (`bytes:`)"
    wire_doc = "seeded random bytes, then FIN"
    clients_doc = "\"Bad status line\""

    bytes: int | None = spec(None, "how many (default 256)", ge=0)

    def detail(self) -> str:
        return f"{self.bytes if self.bytes is not None else 256} bytes"

    async def apply(self, exchange: Exchange) -> None:
        exchange.write(exchange.garbage(self.bytes if self.bytes is not None else 256))
        exchange.close()
