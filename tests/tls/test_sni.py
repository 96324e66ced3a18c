"""Certificate faults by SNI host name (a scenario's tls.hosts), the shipped example, the journal
over the control API, the CLI option, and the errors for bad settings."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from mockserver import MockServer, load_scenario
from mockserver.errors import ScenarioError
from mockserver.scenario import BUILTIN_DIR
from tests.integration.test_builtin_scenarios import exercises
from tests.tls.conftest import TlsServer, verify_error
from tests.tls.test_certificate_faults import CERTIFICATE

SHIPPED = BUILTIN_DIR / "chaos" / "tls-faults.yaml"
# the shipped scenario's host names, by fault
HOSTS = {"expired": "expired.mock.test", "not_yet_valid": "future.mock.test", "wrong_host": "wrong.mock.test",
         "self_signed": "self-signed.mock.test", "untrusted_ca": "untrusted.mock.test",
         "missing_intermediate": "incomplete.mock.test"}


def handshake(port: int, ca: str, server_name: str) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=ca)
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        return context.wrap_socket(sock, server_hostname=server_name)
    except BaseException:
        sock.close()
        raise


def message(fault: str, host: str) -> str:
    return f"Hostname mismatch, certificate is not valid for '{host}'." if fault == "wrong_host" \
        else CERTIFICATE[fault][1]


@exercises("chaos/tls-faults.yaml")
def test_shipped_scenario_gives_each_host_its_fault_and_the_rest_the_good_certificate(tls: TlsServer) -> None:
    with tls(scenario=SHIPPED) as (server, ca):
        for fault, host in HOSTS.items():
            with pytest.raises(ssl.SSLCertVerificationError) as caught:
                handshake(server.port, ca, host)
            assert caught.value.verify_message == message(fault, host), fault
        handshake(server.port, ca, "localhost").close()  # a name without a fault: verified
        url = server.url_for("/hello").replace("127.0.0.1", "localhost")
        answer = httpx.get(url, verify=ssl.create_default_context(cafile=ca), timeout=5)
        assert answer.text == "hello over TLS\n"
        tls_entries = [e for e in server.journal.entries() if e.layer == "tls"]
        assert [(e.sni, e.fault, e.outcome) for e in tls_entries] == \
            [(host, fault, "tls_fault") for fault, host in HOSTS.items()]


def test_httpx_and_aiohttp_by_sni_name(tls: TlsServer) -> None:
    """Real clients asking for a name on 127.0.0.1 (httpx's sni_hostname, aiohttp's server_hostname)."""
    async def get(url: str, ca: str, host: str) -> None:
        async with aiohttp.ClientSession() as session:
            await session.get(url, ssl=ssl.create_default_context(cafile=ca), server_hostname=host,
                              timeout=aiohttp.ClientTimeout(total=5))

    with tls(scenario=SHIPPED) as (server, ca):
        for fault in ("expired", "missing_intermediate"):
            host = HOSTS[fault]
            with pytest.raises(httpx.ConnectError) as caught, \
                    httpx.Client(verify=ssl.create_default_context(cafile=ca), timeout=5) as client:
                client.send(client.build_request("GET", server.url_for("/hello"),
                                                 extensions={"sni_hostname": host}))
            assert verify_error(caught.value).verify_message == message(fault, host)
            with pytest.raises(aiohttp.ClientConnectorCertificateError) as failed:
                asyncio.run(get(server.url_for("/hello"), ca, host))
            error = failed.value.certificate_error  # the error is itself a CertificateError
            assert isinstance(error, ssl.SSLCertVerificationError)
            assert error.verify_message == message(fault, host)


def test_the_journal_over_the_control_api_has_the_connection_level_entry(tls: TlsServer) -> None:
    with tls(scenario=SHIPPED) as (server, ca):
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(server.port, ca, "expired.mock.test")
        context = ssl.create_default_context(cafile=ca)
        with urllib.request.urlopen(server.url_for("/__mock/journal").replace("127.0.0.1", "localhost"),
                                    context=context, timeout=5) as answer:
            body: Any = json.load(answer)
        entries = body["entries"] if isinstance(body, dict) else body
        found = [e for e in entries if e.get("layer") == "tls"]
        assert len(found) == 1
        assert {k: found[0][k] for k in ("layer", "sni", "fault", "outcome", "status", "method")} == {
            "layer": "tls", "sni": "expired.mock.test", "fault": "expired", "outcome": "tls_fault",
            "status": None, "method": ""}
        assert found[0]["decisions"] == ["tls expired: presented"]


def test_a_handshake_fault_per_host_is_refused_with_where_and_what() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario({"name": "x", "tls": {"hosts": {"a.test": "handshake_stall"}},
                       "rules": [{"respond": {"status": 200}}]})
    assert "tls.hosts.a.test: found 'handshake_stall'; expected 'expired', 'not_yet_valid', " \
           "'wrong_host', 'self_signed', 'untrusted_ca' or 'missing_intermediate'" in str(caught.value)


def test_the_error_says_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntls:\n  hosts:\n    a.test: expird\nrules:\n  - respond: {status: 200}\n")
    done = subprocess.run([sys.executable, "-m", "mockserver", "validate", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert f"{bad}:4:13: tls.hosts.a.test: found 'expird'; expected 'expired'," in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_an_unknown_listener_fault_is_refused() -> None:
    with pytest.raises(ValueError, match=r"MockServer\(tls_fault=\.\.\.\): found 'expird'; "
                                         "expected expired or not_yet_valid or wrong_host"):
        MockServer(tls_fault="expird")


def test_cli_tls_fault(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    server = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--tls", "--cert-out", str(ca),
         "--tls-fault", "expired"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        url = ""
        while time.monotonic() < deadline and not url:
            line = server.stdout.readline()
            if "listening on " in line:
                url = line.split("listening on ")[1].split()[0]
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(ssl.SSLCertVerificationError) as caught:
            handshake(port, str(ca), "localhost")
        assert caught.value.verify_message == "certificate has expired"
    finally:
        server.terminate()
        server.wait(20)
        if server.stdout is not None:
            server.stdout.close()


@pytest.mark.parametrize(("argv", "message"), [
    (["--tls-fault", "expired"],
     "--tls-fault expired makes its certificates from the CA that --tls generates"),
    (["--tls", "--tls-fault", "nope"], "mockserver: --tls-fault: found 'nope'; expected expired or "
                                       "not_yet_valid or wrong_host or self_signed or untrusted_ca or "
                                       "missing_intermediate or handshake_stall or handshake_reset or "
                                       "old_protocol or weak_cipher"),
])
def test_cli_refuses_bad_tls_fault_settings(argv: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", *argv],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode in (1, 2)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
