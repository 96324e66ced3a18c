"""Connection-level faults as extra ports beside the server: one that refuses connections, one
that accepts and never sends a byte, and one whose connects never complete.

These are listeners, not rules, because they happen before any request exists: a client pointed
at them meets ECONNREFUSED, a read timeout, or a connect timeout, as a real down, wedged or
black-holed service gives. A port of 0 picks a free one; the chosen ports are on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field

__all__ = ["FaultListeners"]


class _Silent(asyncio.Protocol):
    """Accepted, read and dropped, never answered: the client's read timeout is all that ends it."""

    def __init__(self, held: set[asyncio.Transport]) -> None:
        self._held = held
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._held.add(transport)

    def data_received(self, data: bytes) -> None:
        """Whatever the client sends is discarded: a wedged service reads and does nothing."""

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._held.discard(self._transport)


def _bound(host: str, port: int, flag: str) -> socket.socket:
    """A socket bound to host:port; an OSError names the option the port came from."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        # filename says where: the command line names the option, not the main port
        raise OSError(exc.errno, exc.strerror or str(exc), f"{host}:{port} ({flag})") from None
    return sock


@dataclass
class FaultListeners:
    """The extra ports, opened by open() and closed by close(); None where not asked for."""

    host: str
    refuse_port: int | None = None
    silent_port: int | None = None
    blackhole_port: int | None = None
    _sockets: list[socket.socket] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _held: set[asyncio.Transport] = field(default_factory=set)

    async def open(self) -> None:
        """Bind each asked-for port; on a failure the ones already opened are closed again."""
        try:
            if self.refuse_port is not None:
                # bound, never listening: the port stays ours and every SYN gets a RST
                sock = _bound(self.host, self.refuse_port, "--refuse-port")
                self._sockets.append(sock)
                self.refuse_port = sock.getsockname()[1]
            if self.silent_port is not None:
                sock = _bound(self.host, self.silent_port, "--silent-port")
                sock.listen(128)
                sock.setblocking(False)
                loop = asyncio.get_running_loop()
                self._server = await loop.create_server(lambda: _Silent(self._held), sock=sock)
                self.silent_port = sock.getsockname()[1]
            if self.blackhole_port is not None:
                # backlog 0 holds one connection that is never accepted; we take that one
                # ourselves, so the kernel drops every later SYN and clients' connects time out
                sock = _bound(self.host, self.blackhole_port, "--blackhole-port")
                sock.listen(0)
                self._sockets.append(sock)
                self.blackhole_port = sock.getsockname()[1]
                filler = socket.create_connection((self.host, self.blackhole_port), timeout=5)
                self._sockets.append(filler)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close every extra port and the connections the silent one holds."""
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._sockets.clear()
        for transport in list(self._held):
            transport.abort()
        self._held.clear()
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
