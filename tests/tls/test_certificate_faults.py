"""Certificate faults: each client refuses the certificate with the reason a real bad server gets.

The client trusts the listener's CA in every test, so the fault is the only thing wrong; each
test also checks that the same client, on a listener without the fault, gets its answer.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiohttp
import httpx
import pytest
import requests

from tests.tls.conftest import TlsServer, verify_error

# fault -> (OpenSSL verify code, verify_message) as a client of a misconfigured real server sees them
CERTIFICATE: dict[str, tuple[int, str]] = {
    "expired": (10, "certificate has expired"),
    "not_yet_valid": (9, "certificate is not yet valid"),
    "wrong_host": (62, "Hostname mismatch, certificate is not valid for 'localhost'."),
    "self_signed": (18, "self-signed certificate"),
    "untrusted_ca": (19, "self-signed certificate in certificate chain"),
    "missing_intermediate": (20, "unable to get local issuer certificate"),
}
FAULTS = sorted(CERTIFICATE)


def localhost(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


def handshake(port: int, ca: str, server_name: str = "localhost") -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=ca)
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        return context.wrap_socket(sock, server_hostname=server_name)
    except BaseException:
        sock.close()
        raise


def test_without_a_fault_every_client_gets_its_answer(tls: TlsServer) -> None:
    with tls() as (server, ca):
        handshake(server.port, ca).close()
        assert requests.get(localhost(server.url_for("/hello")), verify=ca, timeout=5).text == "hi\n"
        assert httpx.get(localhost(server.url_for("/hello")), verify=ssl.create_default_context(cafile=ca),
                         timeout=5).text == "hi\n"
        assert not [e for e in server.journal.entries() if e.layer == "tls"]


@pytest.mark.parametrize("fault", FAULTS)
def test_python_ssl(tls: TlsServer, fault: str) -> None:
    with tls(fault) as (server, ca):
        with pytest.raises(ssl.SSLCertVerificationError) as caught:
            handshake(server.port, ca)
        assert (caught.value.verify_code, caught.value.verify_message) == CERTIFICATE[fault]
        assert caught.value.reason == "CERTIFICATE_VERIFY_FAILED"


@pytest.mark.parametrize("fault", FAULTS)
def test_requests(tls: TlsServer, fault: str) -> None:
    with tls(fault) as (server, ca):
        with pytest.raises(requests.exceptions.SSLError) as caught:
            requests.get(localhost(server.url_for("/hello")), verify=ca, timeout=5)
        assert verify_error(caught.value).verify_message == CERTIFICATE[fault][1]
        assert "certificate verify failed: " + CERTIFICATE[fault][1].split(",")[0] in str(caught.value)


@pytest.mark.parametrize("fault", FAULTS)
def test_httpx(tls: TlsServer, fault: str) -> None:
    with tls(fault) as (server, ca):
        with pytest.raises(httpx.ConnectError) as caught:
            httpx.get(localhost(server.url_for("/hello")), verify=ssl.create_default_context(cafile=ca),
                      timeout=5)
        assert verify_error(caught.value).verify_message == CERTIFICATE[fault][1]


@pytest.mark.parametrize("fault", FAULTS)
def test_aiohttp(tls: TlsServer, fault: str) -> None:
    async def get(url: str, ca: str) -> None:
        async with aiohttp.ClientSession() as session:
            await session.get(url, ssl=ssl.create_default_context(cafile=ca),
                              timeout=aiohttp.ClientTimeout(total=5))

    with tls(fault) as (server, ca):
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as caught:
            asyncio.run(get(localhost(server.url_for("/hello")), ca))
        error = caught.value.certificate_error
        assert isinstance(error, ssl.SSLCertVerificationError)
        assert error.verify_message == CERTIFICATE[fault][1]


def test_wrong_host_by_address_says_ip_address_mismatch(tls: TlsServer) -> None:
    """A client that dials the address checks the address (and sends no SNI): OpenSSL words it so."""
    with tls("wrong_host") as (server, ca):
        with pytest.raises(requests.exceptions.SSLError) as caught:
            requests.get(server.url_for("/hello"), verify=ca, timeout=5)
        assert verify_error(caught.value).verify_message == \
            "IP address mismatch, certificate is not valid for '127.0.0.1'."


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_client_that_does_not_verify_gets_the_answer_and_the_journal_says_what_was_presented(
        tls: TlsServer) -> None:
    with tls("expired") as (server, _ca):
        # Connection: close, because a threaded TLS server left with an idle keep-alive connection
        # at exit leaks its socket (the TLS close waits for the client's close_notify)
        answer = requests.get(localhost(server.url_for("/hello")), verify=False, timeout=5,
                              headers={"Connection": "close"})
        assert answer.text == "hi\n"
        tls_entries = [e for e in server.journal.entries() if e.layer == "tls"]
        assert [(e.fault, e.sni, e.outcome, e.status) for e in tls_entries] == \
            [("expired", "localhost", "tls_fault", None)]
        http = [e for e in server.journal.entries() if e.layer == "http"]
        assert [(e.path, e.status) for e in http] == [("/hello", 200)]
