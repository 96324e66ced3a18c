"""slow_close: the whole answer, then the FIN held back (Toxiproxy's ``slow_close``), for clients
that read to end of stream or wait for the close before going on."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, register, spec
from .pacing import raw_answer


@register
@dataclass(frozen=True, slots=True)
class SlowClose(Fault):
    name = "slow_close"
    required = ("delay", "delay: how long the FIN waits after the answer")
    by_header = False  # needs a delay
    spec_doc = "`slow_close` (`delay:`)"
    wire_doc = "the whole answer with `Connection: close`, then the FIN only after `delay`"
    clients_doc = ("clients that frame by `Content-Length` finish at once; one reading to end of "
                   "stream waits `delay`")

    delay: float = spec(1.0, "how long the FIN waits after the answer", duration=True)

    def detail(self) -> str:
        return f"FIN after {self.delay:g}s"

    async def apply(self, exchange: Exchange) -> None:
        exchange.write(raw_answer(exchange))
        await exchange.closed_or(exchange.scaled(self.delay))
        exchange.close()
