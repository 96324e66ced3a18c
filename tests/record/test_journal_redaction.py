"""While recording, the journal and the exchange hooks (log lines, metrics) see requests redacted:
proxied ones, and ones refused from their head before any rule."""

from __future__ import annotations

from pathlib import Path

import requests

from mockserver import MockServer
from mockserver.output import describe_exchange
from tests.conftest import raw_exchange

SECRET = "s3cr3t-9f8e7d6c5b4a"
UP = {"name": "up", "rules": [{"match": {"path": "/echo"}, "respond": {"body": "{{ request.body }}"}}]}


def test_a_refused_request_is_journaled_and_logged_redacted(tmp_path: Path) -> None:
    with MockServer(UP) as upstream, MockServer(None, proxy_unmatched=upstream.url) as proxy:
        proxy.start_recording(tmp_path / "r.yaml")
        lines: list[str] = []
        proxy.exchange_hooks.append(lambda entry: lines.append(describe_exchange(entry)))
        got, _ = raw_exchange(proxy.port, f"GET /pot?api_key={SECRET} HTTP/1.1\r\nHost: x\r\n"
                                          f"X-Api-Key: {SECRET}\r\nExpect: tea\r\n\r\n".encode())
        assert got.startswith(b"HTTP/1.1 417 ")
        answer = requests.post(proxy.url_for(f"/echo?password={SECRET}"), data=f"password={SECRET}",
                               headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5)
        assert answer.text == f"password={SECRET}"  # the client's own exchange is untouched
        entries = proxy.journal.entries()
        assert [(e.status, e.outcome) for e in entries] == [(417, "refused"), (200, "proxied")]
        assert entries[0].query_string == "api_key=<redacted:x-api-key:1>"
        assert entries[0].headers["X-Api-Key"] == "<redacted:x-api-key:1>"
        assert entries[1].body == b"password=%3Credacted%3Ax-api-key%3A1%3E"
        journal = requests.get(proxy.url_for("/__mock/journal"), timeout=5).text
        assert SECRET not in journal and SECRET not in "\n".join(lines)
        assert lines[0].startswith("GET /pot?api_key=<redacted:x-api-key:1> -> 417 ")
