"""malformed_chunk: a chunked body whose second chunk size is not hex."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, head, register


@register
@dataclass(frozen=True, slots=True)
class MalformedChunk(Fault):
    name = "malformed_chunk"
    spec_doc = "`malformed_chunk`"
    wire_doc = "chunked body with a chunk size that is not hex"
    clients_doc = "aiohttp \"Invalid character in chunk size\", requests `ChunkedEncodingError`"

    async def apply(self, exchange: Exchange) -> None:
        body = exchange.body
        half = body[: max(1, len(body) // 2)]
        # one write: a pause before the bad chunk leaves aiohttp's client (3.14) waiting forever
        # instead of failing, which would test the client's timeout, not its chunk parsing
        exchange.write(head(exchange, [("Transfer-Encoding", "chunked")])
                       + f"{len(half):x}\r\n".encode() + half + b"\r\nZZZ-not-hex\r\n" + body[len(half):])
        exchange.close()
