"""The dashboard's event stream on the wire: an entry the journal replaces is sent again, in place."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from mockserver import MockServer

SCENARIO = {"name": "events", "rules": [
    {"name": "slow", "match": {"path": "/slow"}, "respond": {"status": 200, "delay": 0.4}},
    {"name": "quick", "match": {"path": "/quick"}, "respond": {"status": 201}}]}


async def next_event(stream: aiohttp.ClientResponse) -> dict[str, Any]:
    """The next ``entries`` event's data (heartbeat comments are skipped)."""
    data = None
    async with asyncio.timeout(5):
        while True:
            line = (await stream.content.readline()).decode().rstrip("\n")
            if line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and data is not None:
                found: dict[str, Any] = data
                return found


def seen(event: dict[str, Any]) -> list[tuple[int, str, int | None]]:
    return [(e["seq"], e["outcome"], e["status"]) for e in event["entries"]]


async def test_a_pending_exchange_is_sent_again_when_it_finishes_and_a_clear_resets() -> None:
    events = {"Accept": "text/event-stream"}
    async with MockServer(SCENARIO) as server, aiohttp.ClientSession() as client, \
            client.get(server.url_for("/__mock/ui/events"), headers=events) as stream:
        first = await next_event(stream)
        assert first["reset"] is True and first["entries"] == []
        slow = asyncio.create_task(client.get(server.url_for("/slow")))
        event = await next_event(stream)
        assert event["reset"] is False and seen(event) == [(1, "pending", 200)]
        (await slow).release()
        event = await next_event(stream)
        # the finished entry, under the same number: not a reset, which would drop the page's selection
        assert event["reset"] is False and seen(event) == [(1, "answered", 200)]
        async with client.get(server.url_for("/quick")) as resp:
            assert resp.status == 201
        event = await next_event(stream)
        assert event["reset"] is False and seen(event) == [(2, "answered", 201)]
        async with client.post(server.url_for("/__mock/reset")) as resp:
            assert resp.status == 200
        event = await next_event(stream)
        assert event["reset"] is True and event["entries"] == []
        async with client.get(server.url_for("/quick")) as resp:
            assert resp.status == 201
        event = await next_event(stream)
        assert event["reset"] is False and seen(event) == [(1, "answered", 201)]
