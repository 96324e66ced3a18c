"""keepalive_race: answer normally on a kept-alive connection, then close it the moment the next
request arrives on it, as a server whose idle timeout fires just as a client reuses the connection."""

from __future__ import annotations

from dataclasses import dataclass

from . import Exchange, Fault, register


@register
@dataclass(frozen=True, slots=True)
class KeepaliveRace(Fault):
    name = "keepalive_race"
    by_header = False  # it is about the request after this one
    spec_doc = "`keepalive_race`"
    wire_doc = ("this answer as usual, with no `Connection: close`; the next request on the same "
                "connection is met with FIN and no answer")
    clients_doc = ("the stale-connection error on reuse: requests `ConnectionError` "
                   "(`RemoteDisconnected`; urllib3 does not retry it), httpx `RemoteProtocolError`; "
                   "aiohttp retries a GET once on a new connection, a POST gets `ServerDisconnectedError`")

    async def apply(self, exchange: Exchange) -> None:
        await exchange.answer()
        exchange.close_on_next_request()
        exchange.note("keepalive_race: the next request on this connection is met with FIN")
