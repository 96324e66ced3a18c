"""YAML alias bombs ("billion laughs"): refused in milliseconds from a file, from ``validate``
and from ``PUT /__mock/scenarios``, with bounded memory, while other clients are served and the
scenarios loaded before stay in place."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
import requests

from mockserver.errors import ScenarioError
from mockserver.scenario import load_paths, load_text
from tests.conftest import ROOT
from tests.control.conftest import serve

# without the bound, 7 levels of 9 already expand to 4.8 million nodes (seconds, gigabytes)
LEVELS = (7, 8, 9, 10)
REFUSAL = ("found aliases that expand to more than 100000 nodes (this one repeats 66430, defined "
           "on line 7); expected at most 100000 nodes brought in by aliases")


def bomb(levels: int, width: int = 9) -> str:
    """*levels* anchors, each a list of *width* aliases of the one before: width**levels leaves."""
    lines = ["name: bomb", "rules: [{match: {path: /x}}]", "a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", LEVELS)
def test_bomb_is_refused_promptly_with_bounded_memory(levels: int) -> None:
    text = bomb(levels)
    assert len(text) < 1024
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ScenarioError) as caught:
            load_text(text, "bomb.yaml")
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [str(p) for p in caught.value.problems] == [f"bomb.yaml:8:5: (document): {REFUSAL}"]
    assert peak < 5 * 1024 * 1024, f"peak {peak} bytes while refusing"
    assert seconds < 2.0, f"took {seconds:.2f}s"  # unbounded, this is minutes or an OOM kill


def test_modest_anchors_and_merge_keys_still_load() -> None:
    text = (
        "name: anchors\n"
        "defaults: {headers: {X-Service: css}}\n"
        "rules:\n"
        "  - match: &clusters {method: GET, path: '/v1.0/{project_id}/clusters'}\n"
        "    respond: &ok {status: 200, json: &page {items: [1, 2, 3], total: 3}}\n"
        "  - match: {<<: *clusters, query: {limit: '1'}}\n"
        "    respond: {<<: *ok, json: {items: [1], total: 3, all: *page}}\n")
    scenario = load_text(text, "anchors.yaml")
    assert [r.name for r in scenario.rules] == ["GET /v1.0/{project_id}/clusters",
                                                "GET /v1.0/{project_id}/clusters#1"]


def test_validate_refuses_a_bomb_file(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(10))
    with pytest.raises(ScenarioError):
        load_paths([path])
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "mockserver", "validate", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done
    assert done.stdout == f"{path}:8:5: (document): {REFUSAL}\n"
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 30  # the interpreter's start is most of it


def test_serve_refuses_a_bomb_file(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(9))
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert f"{path}:8:5: (document): {REFUSAL}" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")  # pragma: no cover


def test_put_bomb_gets_422_keeps_scenarios_and_serves_others(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: good\nrules:\n  - match: {path: /ok}\n    respond: {body: ok}\n")
    with serve(str(good)) as served:
        url = served.url
        assert requests.get(url + "/ok", timeout=5).text == "ok"
        before = _rss_kib(served.proc.pid)
        answers: list[tuple[int, float]] = []
        stop = threading.Event()

        def client() -> None:
            with requests.Session() as session:
                while not stop.is_set() and len(answers) < 10_000:
                    started = time.monotonic()
                    status = session.get(url + "/ok", timeout=5).status_code
                    answers.append((status, time.monotonic() - started))

        thread = threading.Thread(target=client)
        thread.start()
        try:
            refusals = []
            for levels in LEVELS:
                resp = requests.put(url + "/__mock/scenarios", data=bomb(levels).encode(),
                                    headers={"Content-Type": "application/yaml"}, timeout=10)
                refusals.append((resp.status_code, resp.json()))
            time.sleep(0.2)  # let the client go on after the last refusal
        finally:
            stop.set()
            thread.join(10)
        for status, body in refusals:
            assert status == 422, body
            assert f"<body>:8:5: (document): {REFUSAL}" in str(body), body
        assert answers and all(status == 200 for status, _ in answers)
        assert max(seconds for _, seconds in answers) < 2.0, "another client waited on the bomb"
        growth = _rss_kib(served.proc.pid) - before
        assert growth < 20 * 1024, f"RSS grew by {growth} KiB"
        names = [s["name"] for s in requests.get(url + "/__mock/scenarios", timeout=5).json()]
        assert names == ["good"]
        assert requests.get(url + "/ok", timeout=5).text == "ok"
