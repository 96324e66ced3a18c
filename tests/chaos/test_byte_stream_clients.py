"""Byte-stream and keep-alive faults met by real clients: the exact exception each one raises."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
import requests

from mockserver import MockServer
from tests.chaos.test_byte_stream import SCENARIO


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO, seed=7) as s:
        yield s


def test_requests_limit_data_in_the_status_line(server: MockServer) -> None:
    with pytest.raises(requests.ConnectionError, match=r"BadStatusLine\('HTTP/1.1 2'\)"):
        requests.get(server.url + "/limit-head", timeout=5)


def test_httpx_limit_data_in_the_status_line(server: MockServer) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected without sending a response"):
        httpx.get(server.url + "/limit-head", timeout=5)


def test_timeout_is_a_read_timeout_for_a_shorter_client_timeout(server: MockServer) -> None:
    with pytest.raises(requests.ReadTimeout):
        requests.get(server.url + "/timeout", timeout=0.2)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(server.url + "/timeout", timeout=0.2)


def test_timeout_is_a_disconnect_for_a_longer_client_timeout(server: MockServer) -> None:
    with pytest.raises(requests.ConnectionError, match="RemoteDisconnected"):
        requests.get(server.url + "/timeout", timeout=5)
    with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected without sending a response"):
        httpx.get(server.url + "/timeout", timeout=5)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        asyncio.run(_aiohttp_get(server.url + "/timeout"))


async def _aiohttp_get(url: str) -> str:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
            session.get(url) as response:
        return await response.text()


def test_requests_meets_the_keepalive_race_without_retrying(server: MockServer) -> None:
    """requests (urllib3 with max_retries 0) reuses the pooled connection and fails on it."""
    with requests.Session() as session:
        assert session.get(server.url + "/race", timeout=5).text == "first"
        with pytest.raises(requests.ConnectionError, match="RemoteDisconnected"):
            session.get(server.url + "/race", timeout=5)


def test_httpx_meets_the_keepalive_race(server: MockServer) -> None:
    with httpx.Client(timeout=5) as client:
        assert client.get(server.url + "/race").text == "first"
        with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected without sending a response"):
            client.get(server.url + "/race")


def test_aiohttp_retries_a_get_but_not_a_post_after_the_keepalive_race(server: MockServer) -> None:
    """aiohttp resends an idempotent request once on a fresh connection; a POST is not resent."""
    async def twice(method: str) -> tuple[str, str]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.get(server.url + "/race") as response:
                first = await response.text()
            async with session.request(method, server.url + "/race", data=b"x") as response:
                return first, await response.text()

    before = server.journal.count(path="/race")
    assert asyncio.run(twice("GET")) == ("first", "first")
    # the retried GET reached the server on a new connection: two journaled, the lost one not
    assert server.journal.count(path="/race") == before + 2
    with pytest.raises(aiohttp.ServerDisconnectedError):
        asyncio.run(twice("POST"))
