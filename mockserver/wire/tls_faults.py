"""TLS faults: certificates a client must refuse, and handshakes that stall, reset or cannot agree.

Certificate faults are server contexts with a bad certificate made at start from the listener's
own CA (so the one thing wrong is the fault), chosen per listener or per SNI host name by an
``ssl`` server-name callback. Handshake faults (stall, reset) come before any TLS state exists,
so they replace the listener with a socket that reads the ClientHello and then does the fault.
Version and cipher faults are settled before the server-name callback could swap the context,
so they too replace the listener: OpenSSL refuses the ClientHello there and its alert is sent.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
import ssl
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..tls_catalogue import CERTIFICATE_FAULTS, HANDSHAKE_FAULTS, LISTENER_FAULTS, TLS_FAULTS

__all__ = ["CERTIFICATE_FAULTS", "HANDSHAKE_FAULTS", "LISTENER_FAULTS", "TLS_FAULTS", "Authority",
           "FaultListener", "TlsFaultError", "TlsFaults", "client_hello_sni"]



log = logging.getLogger("mockserver")


class TlsFaultError(ValueError):
    """A TLS fault name or setting that cannot work; the message says what would be valid."""


def check_name(name: str, *, per_host: bool = False) -> str:
    """The fault name, or TlsFaultError listing the valid ones."""
    valid = CERTIFICATE_FAULTS if per_host else TLS_FAULTS
    if name not in valid:
        extra = "" if not per_host or name not in LISTENER_FAULTS else \
            f" ({name} comes before the server name is known: per listener only)"
        raise TlsFaultError(f"found TLS fault {name!r}{extra}; expected one of {', '.join(valid)}")
    return name


@dataclass(slots=True)
class Authority:
    """The listener's CA kept in memory, so fault certificates can be made from it."""

    ca_cert: Any  # cryptography x509.Certificate
    ca_key: Any
    names: tuple[str, ...]
    folder: Path
    _contexts: dict[tuple[str, str | None], ssl.SSLContext] = field(default_factory=dict)

    def context(self, fault: str, host: str | None = None) -> ssl.SSLContext:
        """A server context presenting *fault*, its certificate also for *host* (the SNI name that
        chose it: so the fault is the one thing wrong); made once, then reused."""
        check_name(fault)
        key = (fault, host)
        if key not in self._contexts:
            self._contexts[key] = self._make(fault, host)
        return self._contexts[key]

    def _make(self, fault: str, host: str | None) -> ssl.SSLContext:
        from .tls import leaf, make_ca, pem, write_key

        now = datetime.datetime.now(datetime.UTC)
        day = datetime.timedelta(days=1)
        names: tuple[str, ...] = self.names if host is None or host in self.names else (*self.names, host)
        start, end = now - datetime.timedelta(hours=1), now + 30 * day
        issuer_cert, issuer_key, chain = self.ca_cert, self.ca_key, [self.ca_cert]
        self_sign = False
        if fault == "expired":
            start, end = now - 60 * day, now - day
        elif fault == "not_yet_valid":
            start, end = now + day, now + 60 * day
        elif fault == "wrong_host":
            names = ("wrong.host.invalid",)
        elif fault == "self_signed":
            self_sign, chain = True, []
        elif fault == "untrusted_ca":
            issuer_cert, issuer_key = make_ca("an untrusted CA")
            chain = [issuer_cert]
        elif fault == "missing_intermediate":
            issuer_cert, issuer_key = make_ca("mockserver intermediate CA",
                                              parent=(self.ca_cert, self.ca_key))
            chain = []  # the intermediate is what the server forgets to send
        cert, key = leaf(names, issuer_cert, issuer_key, start, end, self_sign=self_sign)
        stem = f"fault-{fault}" + ("" if host is None else f"-{len(self._contexts)}")
        cert_file, key_file = self.folder / f"{stem}.pem", self.folder / f"{stem}-key.pem"
        cert_file.write_bytes(b"".join(pem(c) for c in [cert, *chain]))
        write_key(key_file, key)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        return context


def listener_context(base: ssl.SSLContext, fault: str, authority: Authority | None) -> ssl.SSLContext:
    """The context a listener with *fault* serves (base for the handshake faults, which use none)."""
    if fault in CERTIFICATE_FAULTS:
        if authority is None:
            raise TlsFaultError(f"TLS fault {fault!r} makes its certificate from the generated CA: "
                                "use --tls (MockServer(tls=...)), not --cert/--key")
        return authority.context(fault)
    return base


def negotiation_context(fault: str, cert: Path, key: Path) -> ssl.SSLContext:
    """A server context no modern client agrees with: TLS 1.0 only, or NULL ciphers only.

    OpenSSL 3 still offers both at security level 0 (the client's own default of TLS 1.2 and
    level 1 or 2 is what refuses them).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_ciphers("NULL:@SECLEVEL=0" if fault == "weak_cipher" else "ALL:@SECLEVEL=0")
    with warnings.catch_warnings():  # TLS 1.0 is deprecated: that is the fault
        warnings.simplefilter("ignore", DeprecationWarning)
        version = ssl.TLSVersion.TLSv1_2 if fault == "weak_cipher" else ssl.TLSVersion.TLSv1
        context.minimum_version = context.maximum_version = version
    return context


Record = Callable[[str, str | None, str, str], None]  # client, SNI, fault, outcome


@dataclass(slots=True)
class TlsFaults:
    """Chooses a context per handshake (listener fault, else the SNI host's) and journals the choice."""

    authority: Authority | None
    listener: str | None
    hosts: Callable[[], dict[str, str]]  # SNI host name -> certificate fault, read per handshake
    record: Record

    def install(self, base: ssl.SSLContext) -> ssl.SSLContext:
        """The context to serve: the listener's fault context, with the server-name callback set."""
        context = base if self.listener is None else listener_context(base, self.listener, self.authority)
        context.sni_callback = self._on_hello
        return context

    def _on_hello(self, sock: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
                  _context: ssl.SSLContext) -> int | None:
        try:
            self._choose(sock, server_name)
        except Exception:  # inside OpenSSL's callback: a traceback here would only go to stderr
            log.exception("TLS fault for server name %r failed", server_name)
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        return None

    def _choose(self, sock: ssl.SSLObject | ssl.SSLSocket, server_name: str | None) -> None:
        fault = self.listener
        if fault is None and server_name is not None:
            fault = self.hosts().get(server_name.lower())
            if fault is not None and self.authority is not None:
                sock.context = self.authority.context(fault, server_name.lower())
        if fault is not None:
            self.record("", server_name, fault, "presented")


def client_hello_sni(data: bytes) -> str | None:
    """The server_name in a ClientHello record (None if absent or not parsable)."""
    try:
        if len(data) < 5 or data[0] != 0x16:
            return None
        pos = 5 + 4 + 2 + 32  # record header, handshake header, version, random
        pos += 1 + data[pos]  # session id
        pos += 2 + struct.unpack_from("!H", data, pos)[0]  # cipher suites
        pos += 1 + data[pos]  # compression methods
        end = pos + 2 + struct.unpack_from("!H", data, pos)[0]
        pos += 2
        while pos + 4 <= end:
            kind, size = struct.unpack_from("!HH", data, pos)
            pos += 4
            if kind == 0:  # server_name: list length, type, name length, name
                length = struct.unpack_from("!H", data, pos + 3)[0]
                return data[pos + 5:pos + 5 + length].decode("ascii", "replace")
            pos += size
    except (IndexError, struct.error):
        return None
    return None


class _HelloThenFault(asyncio.Protocol):
    """Reads one ClientHello record, then stalls (sends nothing), resets the connection, or lets
    OpenSSL refuse it and sends its alert (asyncio's own TLS drops the alert and just closes)."""

    def __init__(self, fault: str, record: Record, open_: set[asyncio.Transport],
                 context: ssl.SSLContext | None) -> None:
        self.fault, self.record, self.open = fault, record, open_
        self.tls: tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO] | None = None
        if context is not None:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = (context.wrap_bio(incoming, outgoing, server_side=True), incoming, outgoing)
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.open.add(transport)

    def data_received(self, data: bytes) -> None:
        if self.done or self.transport is None:
            return
        self.buffer += data
        whole = len(self.buffer) >= 5 and len(self.buffer) >= 5 + struct.unpack_from("!H", self.buffer, 3)[0]
        if not whole and len(self.buffer) < 64 * 1024:  # one ClientHello record (or 64 KiB of anything)
            return
        self.done = True
        peer = self.transport.get_extra_info("peername")
        client = str(peer[0]) if peer else ""
        sni = client_hello_sni(self.buffer)
        if self.tls is not None:
            self.record(client, sni, self.fault, self._negotiate())
        elif self.fault == "handshake_reset":
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
            self.record(client, sni, self.fault, "reset")
        else:
            self.record(client, sni, self.fault, "stalled")

    def _negotiate(self) -> str:
        """Let OpenSSL answer the ClientHello with the fault context; send what it says, close."""
        assert self.tls is not None
        assert self.transport is not None
        tls, incoming, outgoing = self.tls
        incoming.write(self.buffer)
        try:
            tls.do_handshake()
            outcome = "the client agreed"
        except ssl.SSLWantReadError:  # the client speaks the old protocol: not served here
            outcome = "the client agreed (closed: the fault listener serves no requests)"
        except ssl.SSLError as exc:
            outcome = f"refused: {exc.reason or exc}"
        self.transport.write(outgoing.read())
        self.transport.close()
        return outcome

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.open.discard(self.transport)


class FaultListener:
    """A listener for the handshake faults: it takes connections and never speaks TLS."""

    def __init__(self, fault: str, record: Record, context: ssl.SSLContext | None = None) -> None:
        self.fault, self.record, self.context = fault, record, context
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.Transport] = set()

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _HelloThenFault(self.fault, self.record, self.open, self.context), host, port,
            reuse_address=True)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for transport in list(self.open):
                transport.abort()
            await self.server.wait_closed()
            self.server = None
