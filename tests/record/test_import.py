"""`mockserver import` of a HAR file (as Firefox saves it) and of a WireMock mappings folder:
the scenario loads, replays with a real client, is redacted, and what cannot map is named."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
import requests

from mockserver import MockServer
from mockserver.cli import main
from tests.record.helpers import CLUSTER, PROJECT

DATA = Path(__file__).parent / "data"
HAR_TOKEN = "MIIZkQYJKoZIhvcNAQcCoIIZgjCCGX4CAQExDTALBglghkgBZQMEAgEwghefBgkqhkiG9w0BBwGgghe"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_a_browser_har_imports_redacted_and_replays(tmp_path: Path) -> None:
    target = tmp_path / "console.yaml"
    code, out, err = run("import", str(DATA / "browser.har"), "--out", str(target), "--no-latency")
    assert (code, err) == (0, "")
    assert out == f"imported 2 item(s) from {DATA / 'browser.har'} into {target}\n"
    text = target.read_text()
    for secret in (HAR_TOKEN, "hws-cookie-4d1e8b2a", "Adm1n-p4ss-9921"):
        assert secret not in text
    assert "path: /v1.0/{project_id}/clusters/{cluster_id}/restart" in text
    assert "Mozilla" not in text and "Content-Encoding" not in text and "delay" not in text
    with MockServer([target]) as server, requests.Session() as s:
        r = s.get(server.url_for(f"/v1.0/{PROJECT}/clusters?start=1&limit=10"))
        assert (r.status_code, r.reason) == (200, "OK")
        assert r.json()["clusters"][0]["id"] == CLUSTER
        r = s.post(server.url_for(f"/v1.0/{PROJECT}/clusters/{CLUSTER}/restart"),
                   json={"type": "node", "password": "the real one"}, headers={"X-Auth-Token": "real"})
        assert (r.status_code, r.reason) == (403, "Forbidden")
        assert r.json()["error_code"] == "CSS.0001"


def test_a_wiremock_folder_imports_with_files_states_delays_and_faults(tmp_path: Path) -> None:
    target = tmp_path / "wm.yaml"
    code, _, err = run("import", str(DATA / "wiremock"), "--out", str(target))
    assert code == 0, err
    restart = DATA / "wiremock" / "mappings" / "restart.json"
    assert err.splitlines() == [
        f"warning: WireMock {restart} mappings[2]: match.query.token: a credential, not matched",
        f"warning: {restart} mappings[3]: request.cookies: no counterpart in mockserver matching; left out",
        f"warning: {restart} mappings[3]: response.proxyBaseUrl: no counterpart in mockserver answers; "
        "left out",
    ]
    assert "wm-secret-token-5150" not in target.read_text()
    assert (tmp_path / "wm.files" / "clusters.json").is_file()
    with MockServer([target]) as server, requests.Session() as s:
        started = time.monotonic()
        r = s.get(server.url_for(f"/v1.0/{PROJECT}/clusters?limit=10&start=3"), headers={"X-Auth-Token": "t"})
        assert time.monotonic() - started >= 0.025
        assert r.json()["totalSize"] == 1
        assert s.get(server.url_for(f"/v1.0/{PROJECT}/clusters?limit=10&start=3")).status_code == 404
        url = server.url_for(f"/v1.0/{PROJECT}/clusters/{CLUSTER}/restart")
        got = [s.post(url, json={"type": "node"}) for _ in range(2)]
        assert [(g.status_code, g.reason) for g in got] == [(200, "OK"), (409, "Conflict")]
        with pytest.raises(requests.ConnectionError):
            s.get(server.url_for("/broken?token=anything"), timeout=5)


def test_import_refuses_what_it_cannot_read_with_a_located_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.har"
    bad.write_text('{"log": {}}')
    assert run("import", str(bad), "--out", str(tmp_path / "x.yaml")) == (
        1, "", f"mockserver: {bad}: found no log.entries; expected a HAR file (log.entries: [...])\n")
    broken = tmp_path / "broken.har"
    broken.write_text('{"log": ')
    code, _, err = run("import", str(broken), "--out", str(tmp_path / "x.yaml"))
    assert code == 1 and err.startswith(f"mockserver: {broken}: not JSON (") and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("import", str(empty), "--out", str(tmp_path / "x.yaml")) == (
        1, "", f"mockserver: {empty}: found no mappings/*.json; expected a WireMock mappings folder\n")
    assert run("import", str(tmp_path / "nope"), "--out", str(tmp_path / "x.yaml"))[2] == (
        f"mockserver: {tmp_path / 'nope'}: no such file or folder; expected a .har file or a WireMock "
        "mappings folder\n")
    entry = tmp_path / "entry.har"
    entry.write_text('{"log": {"entries": [{"request": {"method": "GET", "url": "http://h/"}, '
                     '"response": {"status": "two hundred"}}]}}')
    assert run("import", str(entry), "--out", str(tmp_path / "x.yaml"))[2] == (
        f"mockserver: {entry}: log.entries[0]: missing or wrong field (ValueError: invalid literal for "
        "int() with base 10: 'two hundred'); expected request and response as a browser writes them\n")
    (empty / "mappings").mkdir()
    (empty / "mappings" / "m.json").write_text('{"request": {"method": "GET"}, "response": {"status": []}}')
    assert run("import", str(empty), "--out", str(tmp_path / "x.yaml"))[2] == (
        f"mockserver: {empty / 'mappings' / 'm.json'}: a field of the wrong kind (TypeError: int() argument "
        "must be a string, a bytes-like object or a real number, not 'list'); expected a mapping as "
        "WireMock writes it\n")
    assert not (tmp_path / "x.yaml").exists()
