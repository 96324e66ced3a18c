"""An upstream that is down, slow, resetting or untrusted: the client gets the gateway answer a real
proxy gives (502, or 504 for a timeout) in the catalogue's shape, journaled as what it was."""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

from mockserver import MockServer, catalogue
from mockserver.wire.tls import self_signed, server_context
from tests.conftest import raw_exchange


def unmatched(server: MockServer, path: str = "/anything") -> requests.Response:
    return requests.get(server.url_for(path), timeout=10)


def test_refused_is_a_502_in_the_catalogue_shape(refused_url: str) -> None:
    with MockServer(None, proxy_unmatched=refused_url) as s:
        answer = unmatched(s)
        assert (answer.status_code, answer.reason) == (502, "Bad Gateway")
        assert answer.json() == {"error_code": "CSS.0502", "error_msg":
                                 f"The upstream {refused_url} did not answer: the connection was refused."}
        entry = s.journal.entries()[-1]
        assert (entry.status, entry.outcome, entry.fault) == (502, "upstream_failed", "upstream_refused")


def test_a_resetting_upstream_is_a_502(resetting_upstream: str) -> None:
    with MockServer(None, proxy_unmatched=resetting_upstream) as s:
        answer = unmatched(s)
        assert answer.status_code == 502
        assert "closed or reset the connection" in answer.json()["error_msg"]
        entry = s.journal.entries()[-1]
        assert (entry.outcome, entry.fault) == ("upstream_failed", "upstream_reset")


def test_a_slow_upstream_is_a_504_after_the_proxy_timeout(httpbin_url: str) -> None:
    with MockServer(None, proxy_unmatched=httpbin_url, proxy_timeout=0.5) as s:
        started = time.monotonic()
        answer = unmatched(s, "/delay/5")
        elapsed = time.monotonic() - started
        assert (answer.status_code, answer.reason) == (504, catalogue.reason_phrase(504))
        assert answer.json()["error_msg"].endswith("no answer in time.")
        assert 0.45 <= elapsed < 4  # nothing hangs for the upstream's 5 seconds
        entry = s.journal.entries()[-1]
        assert (entry.outcome, entry.fault) == ("upstream_failed", "upstream_timeout")
        assert unmatched(s, "/get").status_code == 200  # and the server goes on forwarding


def test_a_rule_timeout_beats_the_servers(httpbin_url: str) -> None:
    spec = {"name": "slow", "rules": [{"match": {"path": "/delay/{n}"},
                                        "proxy": {"url": httpbin_url, "timeout": "300ms"}}]}
    with MockServer(spec, proxy_timeout=30) as s:
        started = time.monotonic()
        assert unmatched(s, "/delay/3").status_code == 504
        assert time.monotonic() - started < 2.5


def test_the_gateway_answer_on_the_wire(refused_url: str) -> None:
    with MockServer(None, proxy_unmatched=refused_url) as s:
        data, _ = raw_exchange(s.port, b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
        assert b"\r\nContent-Type: application/json" in head
        assert json.loads(body)["error_code"] == "CSS.0502"


def test_https_upstream_with_a_ca_bundle_and_without(tmp_path: Path) -> None:
    cert = self_signed(tmp_path / "tls")
    upstream_spec = {"name": "secure",
                     "rules": [{"match": {"path": "/hello"}, "respond": {"body": "over tls"}}]}
    with MockServer(upstream_spec, ssl_context=server_context(cert.cert, cert.key)) as upstream:
        https = f"https://127.0.0.1:{upstream.port}"
        with MockServer(None, proxy_unmatched=https, proxy_ca=str(cert.ca)) as trusted:
            assert unmatched(trusted, "/hello").text == "over tls"
        # a rule's own ca: works too, relative to the scenario's folder
        (tmp_path / "rules.yaml").write_text(
            "name: rule-ca\nrules:\n  - match: {path: /hello}\n"
            f"    proxy: {{url: '{https}', ca: tls/ca.pem}}\n")
        with MockServer([tmp_path / "rules.yaml"]) as by_rule:
            assert unmatched(by_rule, "/hello").text == "over tls"
        with MockServer(None, proxy_unmatched=https) as untrusted:  # the system's store does not know it
            answer = unmatched(untrusted, "/hello")
            assert answer.status_code == 502
            assert "TLS handshake failed" in answer.json()["error_msg"]
            assert untrusted.journal.entries()[-1].fault == "upstream_tls"
