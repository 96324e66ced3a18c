"""WebSocket exchanges with faults, met by aiohttp's client and a raw socket: a close code, an
abrupt close (no close frame), a TCP reset, a pause, a malformed frame."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import Iterator

import aiohttp
import pytest

from mockserver import MockServer

SCENARIO = {"name": "ws-faults", "rules": [
    {"name": "code", "match": {"path": "/code"}, "websocket": [{"send": "hi"}, {"close": 4001}]},
    {"name": "abort", "match": {"path": "/abort"}, "websocket": [{"send": "hi"}, {"abort": True}]},
    {"name": "reset", "match": {"path": "/reset"}, "websocket": [{"send": "hi"}, {"reset": True}]},
    {"name": "pause", "match": {"path": "/pause"},
     "websocket": [{"send": "hi"}, {"delay": "1s"}, {"send": "late"}]},
    {"name": "malformed", "match": {"path": "/malformed"},
     "websocket": [{"send": "hi"}, {"malformed": True}, {"receive": True}]},
]}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO) as s:
        yield s


async def _messages(url: str, timeout: float = 5.0) -> list[aiohttp.WSMessage]:
    out: list[aiohttp.WSMessage] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        while True:
            message = await ws.receive(timeout=timeout)
            out.append(message)
            if message.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR}:
                return out


def raw_upgrade(server: MockServer, path: str) -> tuple[bytes, str]:
    key = base64.b64encode(os.urandom(16)).decode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    received, end = b"", "open"
    try:
        while chunk := sock.recv(65536):
            received += chunk
        end = "FIN"
    except ConnectionResetError:
        end = "RST"
    except TimeoutError:
        end = "open"
    finally:
        sock.close()
    return received.partition(b"\r\n\r\n")[2], end


def test_close_code(server: MockServer) -> None:
    messages = asyncio.run(_messages(server.url + "/code"))
    assert [m.type for m in messages] == [aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.CLOSE]
    assert messages[-1].data == 4001


def test_abort_sends_no_close_frame(server: MockServer) -> None:
    messages = asyncio.run(_messages(server.url + "/abort"))
    assert [m.type for m in messages] == [aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.CLOSED]
    frames, end = raw_upgrade(server, "/abort")
    assert (frames, end) == (b"\x81\x02hi", "FIN")  # the text frame, then FIN: no 0x88 close frame
    entry = server.journal.select(path="/abort")[-1]
    assert (entry.fault, entry.outcome) == ("websocket_abort", "fault")
    assert "websocket fault: websocket_abort" in entry.decisions


def test_reset_is_a_tcp_rst(server: MockServer) -> None:
    _, end = raw_upgrade(server, "/reset")  # what was unread when the RST came may be dropped
    assert end == "RST"
    messages = asyncio.run(_messages(server.url + "/reset"))
    assert messages[-1].type in {aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR}
    assert server.journal.select(path="/reset")[-1].fault == "websocket_reset"


def test_pause_longer_than_the_clients_receive_timeout(server: MockServer) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.url + "/pause") as ws:
            assert (await ws.receive(timeout=5)).data == "hi"
            start = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.3)
            assert (await ws.receive(timeout=5)).data == "late"
            assert time.monotonic() - start >= 0.95
    asyncio.run(run())


def test_malformed_frame_fails_the_client(server: MockServer) -> None:
    messages = asyncio.run(_messages(server.url + "/malformed"))
    assert messages[0].data == "hi"
    assert messages[-1].type is aiohttp.WSMsgType.ERROR
    assert isinstance(messages[-1].data, aiohttp.WebSocketError)
    assert messages[-1].data.code == aiohttp.WSCloseCode.PROTOCOL_ERROR
    frames, _ = raw_upgrade(server, "/malformed")
    assert frames.startswith(b"\x81\x02hi\x83\x00")
    assert server.journal.select(path="/malformed")[-1].fault == "websocket_malformed"
