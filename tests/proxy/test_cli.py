"""`mockserver serve --proxy-unmatched URL` and its variables, as a user starts it."""

from __future__ import annotations

from pathlib import Path

import requests

from mockserver.scenario import BUILTIN_DIR
from mockserver.wire.tls import self_signed, server_context
from tests.integration.test_cli import run_main, serve

FLAKY = str(BUILTIN_DIR / "proxy" / "flaky-upstream.yaml")


def test_serve_forwards_what_no_rule_matches(httpbin_url: str) -> None:
    with serve(FLAKY, "--proxy-unmatched", httpbin_url, "--quiet") as (_, url):
        answer = requests.get(url + "/status/418", timeout=5)
        assert answer.status_code == 418 and answer.reason == requests.get(httpbin_url + "/status/418").reason


def test_the_variables_set_upstream_and_timeout(httpbin_url: str) -> None:
    env = {"MOCKSERVER_PROXY_UNMATCHED": httpbin_url, "MOCKSERVER_PROXY_TIMEOUT": "0.3"}
    with serve(FLAKY, "--quiet", env=env) as (_, url):
        assert requests.get(url + "/get", timeout=5).json()["url"].endswith("/get")
        assert requests.get(url + "/delay/3", timeout=5).status_code == 504


def test_proxy_ca_trusts_a_private_upstream(tmp_path: Path) -> None:
    from mockserver import MockServer

    cert = self_signed(tmp_path)
    with MockServer({"name": "tls", "rules": [{"match": {"path": "/x"}, "respond": {"body": "secret"}}]},
                    ssl_context=server_context(cert.cert, cert.key)) as upstream:
        https = f"https://127.0.0.1:{upstream.port}"
        with serve("--proxy-unmatched", https, "--proxy-ca", str(cert.ca), FLAKY, "--quiet") as (_, url):
            assert requests.get(url + "/x", timeout=5).text == "secret"


def test_a_bad_upstream_url_is_refused_before_serving() -> None:
    code, out, err = run_main(["serve", "--proxy-unmatched", "127.0.0.1:8000"])
    assert (code, out) == (2, "")
    assert err == ("mockserver: --proxy-unmatched: found '127.0.0.1:8000'; expected an http:// or https:// "
                   "URL without query or fragment, such as http://127.0.0.1:8000\n")
