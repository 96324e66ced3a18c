"""Record, write, validate, serve the written scenario and replay with real clients: same answers."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import requests

from mockserver import MockServer
from mockserver.cli import main
from mockserver.record.build import Recorder, RecordOptions
from tests.record.helpers import CLUSTER, PROJECT, cap

OTHER = "9f8e7d6c-5b4a-4c3d-9e2f-1a0b9c8d7e6f"


def recorder() -> Recorder:
    r = Recorder(RecordOptions(name="recorded"))
    body = json.dumps({"cluster": {"id": CLUSTER, "status": "200"}}).encode()
    r.add(cap("GET", f"/v1.0/{PROJECT}/clusters/{CLUSTER}", response_body=gzip.compress(body),
              response_headers=(("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                                ("Content-Length", "99"), ("X-Request-Id", "r-1"),
                                ("Date", "Tue, 01 Dec 2026 10:00:00 GMT")), latency=0.004))
    r.add(cap("GET", f"/v1.0/{PROJECT}/clusters/{OTHER}", status=404, reason="Not Found",
              response_body=b'{"error_code":"CSS.0015"}', latency=0.002))
    r.add(cap("POST", f"/v1.0/{PROJECT}/clusters", body=b'{"cluster": {"name": "es-1"}}',
              status=200, reason="OK", response_body=b'{"cluster": {"id": "new"}}', latency=0.003))
    r.add(cap("GET", "/jobs", query=(("limit", "2"),), status=503, reason="Service Unavailable",
              response_body=b"busy", response_headers=(("Content-Type", "text/plain"),)))
    r.add(cap("GET", "/jobs", query=(("limit", "2"),), status=200, reason="Fine Thanks",
              response_body=b"done", response_headers=(("Content-Type", "text/plain"),)))
    r.add(cap("GET", "/big", response_body=b"x" * 20_000, response_headers=(("Content-Type", "text/plain"),)))
    r.add(cap("GET", "/down", status=None, reason="", response_headers=(), response_body=b"",
              failure="reset"))
    return r


def test_the_written_scenario_validates_and_replays_the_same_answers(tmp_path: Path) -> None:
    target = tmp_path / "rec.yaml"
    written = recorder().write(target)
    assert (tmp_path / "rec.files" / "get-big-1.txt").read_bytes() == b"x" * 20_000
    assert len(written) == 2
    text = target.read_text()
    assert "path: /v1.0/{project_id}/clusters" in text and "Content-Encoding" not in text
    assert "Date" not in text and "'{{ request.id }}'" in text
    assert main(["validate", "--strict", str(target)]) == 0
    with MockServer([target]) as server, requests.Session() as s:
        r = s.get(server.url_for(f"/v1.0/{PROJECT}/clusters/{CLUSTER}"))
        assert (r.status_code, r.reason) == (200, "OK")
        assert r.json() == {"cluster": {"id": CLUSTER, "status": "200"}}
        assert r.headers["X-Request-Id"] != "r-1"
        r = s.get(server.url_for(f"/v1.0/{PROJECT}/clusters/{OTHER}"))
        assert (r.status_code, r.reason, r.json()) == (404, "Not Found", {"error_code": "CSS.0015"})
        r = s.post(server.url_for(f"/v1.0/{PROJECT}/clusters"), json={"cluster": {"name": "es-1"}})
        assert r.json() == {"cluster": {"id": "new"}}
        got = [s.get(server.url_for("/jobs?limit=2")) for _ in range(3)]
        assert [(g.status_code, g.reason, g.text) for g in got] == [
            (503, "Service Unavailable", "busy"), (200, "Fine Thanks", "done"), (200, "Fine Thanks", "done")]
        assert s.get(server.url_for("/big")).content == b"x" * 20_000
        try:
            s.get(server.url_for("/down"), timeout=5)
        except requests.ConnectionError:
            pass
        else:
            raise AssertionError("the recorded reset was not replayed")
