"""The 404 for an unmatched request, and the failure messages, name the closest rule first."""

from __future__ import annotations

import json

import pytest

from mockserver import MockServer
from mockserver.assertions import MockAssertionError, assert_called, check_strict
from tests.conftest import raw_exchange
from tests.unit.test_near_misses import SHOP


def test_the_404_body_and_the_messages_rank_by_closeness() -> None:
    with MockServer({"name": "shop", "rules": SHOP}) as server:
        data, _ = raw_exchange(server.port, b"GET /order/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 404 NotFound\r\n")
        found = json.loads(body)
        assert found["error_msg"] == "No rule matched GET /order/7"
        assert [m["rule"] for m in found["near_misses"]] == ["shop/show-order", "shop/delete-order",
                                                             "shop/show-user"]
        assert found["near_misses"][0]["mismatches"] == ["path: expected /orders/{id}, got /order/7"]
        with pytest.raises(MockAssertionError) as called:
            assert_called(server.journal, "show-order")
        with pytest.raises(MockAssertionError) as strict:
            check_strict(server.journal)
    for message in (str(called.value), str(strict.value)):
        lines = [line.strip() for line in message.splitlines() if "near miss" in line]
        assert lines == [
            "near miss shop/show-order (<inline>): path: expected /orders/{id}, got /order/7",
            "near miss shop/delete-order (<inline>): method: expected DELETE, got GET; "
            "path: expected /orders/{id}, got /order/7",
            "near miss shop/show-user (<inline>): path: expected /users/{id}, got /order/7",
        ]
