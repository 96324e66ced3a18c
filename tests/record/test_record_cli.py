"""`mockserver record` against a real upstream (httpbin): record, stop the upstream, replay.

The same client code, carrying real secrets in headers, query, form and JSON, gets the same
answers from the replay; no secret reaches the written files or the journal.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.test_cli import run_main
from tests.proxy.conftest import run_httpbin
from tests.record.live import leaks, mockserver_process, stop, written

BEARER = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LWJlYXJlcg.sig-7f3a9c"
API_KEY = "qk_live_5b8e2d71c9a04f36"
PASSWORD = "hunter2-correct-horse"
TOKEN = "tok-9d41f0e2a7b36c58"
COOKIE = "sess-0af3b9c27d164e85"
SECRETS = (BEARER, API_KEY, PASSWORD, TOKEN, COOKIE)


def client(base: str) -> list[Any]:
    """What an application reads from the API, with its real credentials on every request."""
    with requests.Session() as http:
        http.trust_env = False
        http.headers["Authorization"] = f"Bearer {BEARER}"
        http.headers["Cookie"] = f"session={COOKIE}"
        seen: list[Any] = []
        got = http.get(f"{base}/get", params={"api_key": API_KEY, "page": "2"}, timeout=10)
        seen.append((got.status_code, got.reason, got.json()["args"]["page"]))
        got = http.post(f"{base}/post", data={"user": "ann", "password": PASSWORD}, timeout=10)
        seen.append((got.status_code, got.reason, got.json()["form"]["user"]))
        got = http.post(f"{base}/anything/orders", json={"token": TOKEN, "item": "book"}, timeout=10)
        seen.append((got.status_code, got.reason, got.json()["json"]["item"], got.json()["method"]))
        got = http.get(f"{base}/status/418", timeout=10)
        seen.append((got.status_code, got.reason, got.text))
        got = http.get(f"{base}/gzip", timeout=10)  # stored decoded, replayed as plain JSON
        seen.append((got.status_code, got.reason, got.json()["gzipped"]))
        got = http.get(f"{base}/uuid", timeout=10)  # a random answer: the replay gives the recorded one
        seen.append((got.status_code, got.reason, got.json()["uuid"]))
        got = http.get(f"{base}/status/503", timeout=10)
        seen.append((got.status_code, got.reason))
        return seen


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_record_then_replay_with_the_upstream_gone(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "rec" / "httpbin.yaml"
    out.parent.mkdir()
    with run_httpbin(tmp_path / "httpbin.log") as upstream, mockserver_process(
            "record", "--target", upstream, "--out", str(out), "--port", "0") as (proc, url, lines):
        assert lines[0] == f"mockserver: recording what goes to {upstream} into {out}\n"
        recorded = client(url)
        assert recorded[3][:2] == (418, "I'M A TEAPOT")  # httpbin's own reason phrase
        journal = requests.get(url + "/__mock/journal", timeout=5)
        so_far = requests.get(url + "/__mock/recording", timeout=5).json()
        assert (so_far["out"], so_far["exchanges"], so_far["saved"]) == (str(out), 7, 0)
        said, err = stop(proc, sig)
    assert err == ""
    assert said.endswith(f"mockserver: shutting down\nmockserver: recorded 7 exchange(s) into {out}\n")
    entries = journal.json()["entries"]
    assert [e["outcome"] for e in entries] == ["proxied"] * 7
    assert entries[0]["query"] == "api_key=<redacted:api_key:1>&page=2"
    files = written(out.parent)
    assert out in files
    assert leaks(SECRETS, files, [journal.content, str(so_far).encode(), said.encode()]) == []
    # upstream stopped; replay the file alone
    with mockserver_process("serve", str(out), "--port", "0", "--quiet") as (proc, url, _):
        assert client(url) == recorded
        replay_journal = requests.get(url + "/__mock/journal", timeout=5).json()["entries"]
        stop(proc)
    assert [e["outcome"] for e in replay_journal] == ["answered"] * 7


def test_save_on_demand_while_recording(tmp_path: Path, httpbin_url: str) -> None:
    out = tmp_path / "live.yaml"
    with mockserver_process("record", "--target", httpbin_url, "--out", str(out), "--port", "0") \
            as (proc, url, _):
        requests.get(url + "/status/201", timeout=5)
        saved = requests.post(url + "/__mock/recording/save", timeout=5)
        assert saved.status_code == 200
        assert saved.json() == {"saved": str(out), "files": [str(out)], "exchanges": 1}
        assert out.read_text().count("status: 201") == 1
        requests.get(url + "/status/202", timeout=5)
        assert requests.get(url + "/__mock/recording", timeout=5).json()["saved"] == 1
        stop(proc)
    text = out.read_text()
    assert "status: 201" in text and "status: 202" in text


def test_the_control_api_says_when_nothing_records() -> None:
    from mockserver import MockServer

    with MockServer(None) as server:
        for method, path in (("GET", "/__mock/recording"), ("POST", "/__mock/recording/save")):
            answer = requests.request(method, server.url_for(path), timeout=5)
            assert (answer.status_code, answer.json()) == (409, {
                "error": "not_recording",
                "detail": "this server is not recording: start it with "
                          "`mockserver record --target URL --out FILE.yaml`"})
        paths = requests.get(server.url_for("/__mock/openapi.json"), timeout=5).json()["paths"]
        assert {"/__mock/recording", "/__mock/recording/save"} <= set(paths)


def test_a_save_that_cannot_write_keeps_the_exchanges(tmp_path: Path) -> None:
    from mockserver import MockServer

    up = {"name": "up", "rules": [{"match": {"path": "/x"}, "respond": {"body": "x"}}]}
    with MockServer(up) as upstream, MockServer(None, proxy_unmatched=upstream.url) as proxy:
        folder = tmp_path / "gone"
        folder.mkdir()
        recording = proxy.start_recording(folder / "r.yaml")
        requests.get(proxy.url_for("/x"), timeout=5)
        folder.rmdir()
        (tmp_path / "gone").write_text("a file where the folder was")
        answer = requests.post(proxy.url_for("/__mock/recording/save"), timeout=5)
        assert answer.status_code == 507
        assert answer.json()["error"] == "save_failed"
        assert answer.json()["detail"].startswith(f"{folder / 'r.yaml'}: cannot write it (")
        assert recording.captured == 1


def test_record_refuses_bad_values_in_one_line(tmp_path: Path) -> None:
    assert run_main(["record", "--target", "127.0.0.1:9", "--out", str(tmp_path / "r.yaml")]) == (
        2, "", "mockserver: --target: found '127.0.0.1:9'; expected an http:// or https:// URL without "
               "query or fragment, such as http://127.0.0.1:8000\n")
    missing = str(tmp_path / "no" / "r.yaml")
    assert run_main(["record", "--target", "http://127.0.0.1:9", "--out", missing]) == (
        1, "", f"mockserver: --out {tmp_path / 'no' / 'r.yaml'}: found no folder {tmp_path / 'no'}; "
               "expected a file in an existing folder\n")
    assert run_main(["record", "--target", "http://127.0.0.1:9", "--out", str(tmp_path / "r.yaml"),
                     "--proxy-unmatched", "http://127.0.0.1:8"]) == (
        2, "", "mockserver: record: --proxy-unmatched: found a second upstream; expected only --target, "
               "which every request is forwarded to\n")
    code, _, err = run_main(["record", "--out", "r.yaml"])
    assert code == 2 and "--target" in err and "Traceback" not in err
