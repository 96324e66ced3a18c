"""Handshake faults: a stall, a reset, and a version or cipher the client refuses, per listener."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import time

import aiohttp
import httpx
import pytest
import requests

from tests.tls.conftest import TlsServer, cause

URL = "https://localhost:{port}/hello"


def handshake(port: int, ca: str, timeout: float = 5) -> None:
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        context.wrap_socket(sock, server_hostname="localhost").close()


async def aiohttp_get(url: str, ca: str, timeout: float) -> None:
    async with aiohttp.ClientSession() as session:
        await session.get(url, ssl=ssl.create_default_context(cafile=ca),
                          timeout=aiohttp.ClientTimeout(connect=timeout))


def test_stall_is_a_handshake_timeout_in_every_client(tls: TlsServer) -> None:
    with tls("handshake_stall") as (server, ca):
        url = URL.format(port=server.port)
        with pytest.raises(TimeoutError, match="The handshake operation timed out"):
            handshake(server.port, ca, timeout=0.3)
        with pytest.raises(requests.exceptions.ReadTimeout) as caught:
            requests.get(url, verify=ca, timeout=0.3)
        assert "handshake operation timed out" in str(cause(caught.value, TimeoutError))
        with pytest.raises(httpx.ConnectTimeout, match="The handshake operation timed out"):
            httpx.get(url, verify=ssl.create_default_context(cafile=ca), timeout=0.3)
        with pytest.raises(aiohttp.ConnectionTimeoutError):
            asyncio.run(aiohttp_get(url, ca, 0.3))
        entries = server.journal.wait_for(4, timeout=5)
        assert {(e.layer, e.fault, e.sni, e.outcome, e.client) for e in entries} == \
            {("tls", "handshake_stall", "localhost", "tls_fault", "127.0.0.1")}
        assert entries[0].decisions == ("tls handshake_stall: stalled",)


def test_reset_is_a_connection_reset_in_every_client(tls: TlsServer) -> None:
    with tls("handshake_reset") as (server, ca):
        url = URL.format(port=server.port)
        with pytest.raises(ConnectionResetError):
            handshake(server.port, ca)
        with pytest.raises(requests.exceptions.ConnectionError) as caught:
            requests.get(url, verify=ca, timeout=5)
        cause(caught.value, ConnectionResetError)
        with pytest.raises(httpx.ConnectError, match="Connection reset by peer"):
            httpx.get(url, verify=ssl.create_default_context(cafile=ca), timeout=5)
        with pytest.raises(aiohttp.ClientConnectorError) as failed:
            asyncio.run(aiohttp_get(url, ca, 5))
        assert isinstance(failed.value.os_error, ConnectionResetError)
        assert [e.decisions for e in server.journal.wait_for(4, timeout=5)] == \
            [("tls handshake_reset: reset",)] * 4


# fault -> the alert a modern client gets from a real server configured so, and what OpenSSL
# on the server said
REFUSED = {
    "old_protocol": ("TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL"),
    "weak_cipher": ("SSLV3_ALERT_HANDSHAKE_FAILURE", "NO_SHARED_CIPHER"),
}


@pytest.mark.parametrize("fault", sorted(REFUSED))
def test_a_version_or_cipher_the_client_refuses(tls: TlsServer, fault: str) -> None:
    reason, server_reason = REFUSED[fault]
    with tls(fault) as (server, ca):
        url = URL.format(port=server.port)
        with pytest.raises(ssl.SSLError) as direct:
            handshake(server.port, ca)
        assert direct.value.reason == reason
        with pytest.raises(requests.exceptions.SSLError) as caught:
            requests.get(url, verify=ca, timeout=5)
        assert cause(caught.value, ssl.SSLError).reason == reason
        with pytest.raises(httpx.ConnectError) as hx:
            httpx.get(url, verify=ssl.create_default_context(cafile=ca), timeout=5)
        assert cause(hx.value, ssl.SSLError).reason == reason
        with pytest.raises(aiohttp.ClientConnectorSSLError) as aio:
            asyncio.run(aiohttp_get(url, ca, 5))
        error = aio.value.os_error  # the error is itself an ssl.SSLError; the one OpenSSL raised is here
        assert isinstance(error, ssl.SSLError)
        assert error.reason == reason
        entries = server.journal.wait_for(4, timeout=5)
        assert {e.decisions for e in entries} == {(f"tls {fault}: refused: {server_reason}",)}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_s_client_agrees_on_tls_1_0_with_old_protocol(tls: TlsServer) -> None:
    """The fault is a real TLS 1.0 server: a client that allows 1.0 (seclevel 0) gets through."""
    with tls("old_protocol") as (server, _ca):
        done = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-tls1", "-cipher",
             "ALL:@SECLEVEL=0", "-servername", "localhost"],
            input=b"", capture_output=True, timeout=20, check=False)
        out = done.stdout.decode(errors="replace")
        assert "Protocol  : TLSv1\n" in out or "Protocol  : TLSv1\r\n" in out, out[-800:]
        deadline = time.monotonic() + 5
        while not server.journal.entries() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.journal.entries()[0].decisions[0].startswith("tls old_protocol: the client agreed")


def test_journal_queries_and_failure_lines_see_tls_entries(tls: TlsServer) -> None:
    with tls("handshake_reset") as (server, ca):
        with pytest.raises(ConnectionResetError):
            handshake(server.port, ca)
        server.journal.wait_for(1, fault="handshake_reset", outcome="tls_fault", timeout=5)
        assert server.journal.count(fault="handshake_reset") == 1
        assert server.journal.count(outcome="answered") == 0
        [entry] = server.journal.entries()
        assert entry.describe() == f"#{entry.seq} TLS handshake (SNI localhost) -> tls handshake_reset: reset"
