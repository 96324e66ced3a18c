"""One control plane: a control call sent to one replica takes effect on all of them before it
returns (replayed through each replica's own control API, acknowledged through Redis)."""

from __future__ import annotations

import uuid
from pathlib import Path

import requests

from mockserver.control.api import REPLAYED
from mockserver.wire import redis_control

from .conftest import RedisProcess
from .processes import serve_replicas

SCENARIO = """\
name: plane
rules:
  - name: hello
    match: {path: /hello}
    respond: {status: 200, body: old}
  - name: flaky
    match: {path: /flaky}
    respond:
      - {status: 503, repeat: 2}
      - {status: 200}
"""

NEW = {"name": "plane", "rules": [{"name": "hello", "match": {"path": "/hello"},
                                   "respond": {"status": 201, "body": "new"}}]}


def test_the_replayed_header_is_one_name() -> None:
    assert redis_control.REPLAYED == REPLAYED


def test_a_call_on_one_replica_applies_on_all_before_it_returns(redis_server: RedisProcess,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "plane.yaml"
    path.write_text(SCENARIO)
    with serve_replicas(redis_server.url, f"plane-{uuid.uuid4().hex}", path) as (a, b):
        s = requests.Session()
        # scenarios: PUT on A, then at once B answers the new way
        put = s.put(a + "/__mock/scenarios", json=[NEW], timeout=10)
        assert put.status_code == 200, put.text
        assert put.headers["X-Mock-Replicas"] == "1/1"
        got = s.get(b + "/hello", timeout=10)
        assert (got.status_code, got.text) == (201, "new")
        # a runtime fault added on A applies on B
        added = s.post(a + "/__mock/faults", json={"name": "down", "match": {"path": "/hello"},
                                                   "respond": {"status": 500}}, timeout=10)
        assert added.status_code < 300, added.text
        assert added.headers["X-Mock-Replicas"] == "1/1"
        assert s.get(b + "/hello", timeout=10).status_code == 500
        assert [f["name"] for f in s.get(b + "/__mock/faults", timeout=10).json()] == ["down"]
        assert s.delete(b + "/__mock/faults/down", timeout=10).headers["X-Mock-Replicas"] == "1/1"
        assert s.get(a + "/hello", timeout=10).status_code == 201


def test_reset_on_one_replica_clears_counts_on_all(redis_server: RedisProcess, tmp_path: Path) -> None:
    path = tmp_path / "plane.yaml"
    path.write_text(SCENARIO)
    with serve_replicas(redis_server.url, f"plane-{uuid.uuid4().hex}", path) as (a, b):
        s = requests.Session()
        assert [s.get(u + "/flaky", timeout=10).status_code for u in (a, b, a)] == [503, 503, 200]
        s.post(a + "/__mock/faults", json={"name": "slow", "match": {"path": "/hello"},
                                           "respond": {"status": 502}}, timeout=10).raise_for_status()
        reset = s.post(b + "/__mock/reset", timeout=10)
        assert reset.headers["X-Mock-Replicas"] == "1/1"
        assert [s.get(u + "/flaky", timeout=10).status_code for u in (a, b, a)] == [503, 503, 200]
        assert s.get(a + "/__mock/faults", timeout=10).json() == []  # a reset drops runtime faults everywhere
        # the seed, too: set on B, the same draws on A (a call the replica repeats, not Redis)
        assert s.post(b + "/__mock/seed", json={"seed": 9}, timeout=10).headers["X-Mock-Replicas"] == "1/1"
        assert s.get(a + "/__mock/health", timeout=10).status_code == 200
