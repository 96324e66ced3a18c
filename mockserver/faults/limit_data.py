"""limit_data: the connection closed after N bytes of the answer, counting the head as Toxiproxy
counts every byte, so N can fall in the status line, the headers or the body."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, register, spec
from .pacing import raw_answer


@register
@dataclass(frozen=True, slots=True)
class LimitData(Fault):
    name = "limit_data"
    required = ("bytes", "bytes: how many bytes of the answer, head included, before FIN")
    by_header = False  # needs a byte count
    spec_doc = "`limit_data` (`bytes:`)"
    wire_doc = ("the first `bytes` bytes of the answer, counting the status line and headers "
                "(as Toxiproxy counts every byte), then FIN; an answer shorter than that goes whole")
    clients_doc = ("inside the head: http.client `RemoteDisconnected`, httpx `RemoteProtocolError`; "
                   "inside the body: `IncompleteRead`, aiohttp `ClientPayloadError`")

    bytes: int = spec(0, "bytes of the answer, head included, before FIN", ge=0)

    def detail(self) -> str:
        return f"close after {self.bytes} bytes"

    async def apply(self, exchange: Exchange) -> None:
        raw = raw_answer(exchange)
        sent = raw[:self.bytes]
        head_size = len(raw) - len(exchange.body)
        exchange.note(f"limit_data: {len(sent)} of {len(raw)} bytes sent (the head is {head_size})")
        if sent:
            exchange.write(sent)
        exchange.close()
