"""--watch: files change under load, and every answer comes whole from one version or the next."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import requests

from tests.control.conftest import serve


def version(n: int, path: str = "/a") -> str:
    # the header comes from the scenario's defaults, the body from the rule: a mix would differ
    return (f"name: live{path.replace('/', '-')}\ndefaults:\n  headers: {{X-Version: '{n}'}}\n"
            f"rules:\n  - name: v{n}\n    match: {{path: {path}}}\n"
            f"    respond: {{delay: 5ms, body: '{n}'}}\n")


def write(path: Path, text: str, atomic: bool) -> None:
    if atomic:  # how editors and config tools usually save
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    else:  # in place: a reader may catch it half written
        path.write_text(text)


def wait_for(condition, timeout: float = 20, interval: float = 0.02, why=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s {why()}")


def test_hammered_while_files_change(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    a, b = folder / "a.yaml", folder / "b.yaml"
    write(a, version(1, "/a"), atomic=True)
    write(b, version(1, "/b"), atomic=True)
    with serve(str(folder), "--watch", "--watch-interval", "0.05") as served:
        stop = threading.Event()
        failures: list[str] = []
        seen: dict[str, list[int]] = {}

        def hammer(name: str, path: str) -> None:
            session = requests.Session()
            versions = seen.setdefault(name, [])
            while not stop.is_set():
                try:
                    resp = session.get(served.url + path, timeout=5)
                except requests.RequestException as exc:
                    failures.append(f"{name}: {exc!r}")
                    continue
                if resp.status_code != 200 or resp.headers.get("X-Version") != resp.text:
                    failures.append(f"{name}: {resp.status_code} X-Version={resp.headers.get('X-Version')} "
                                    f"body={resp.text[:80]!r}")
                    continue
                versions.append(int(resp.text))

        threads = [threading.Thread(target=hammer, args=(f"{path}#{i}", path))
                   for i in range(3) for path in ("/a", "/b")]
        for thread in threads:
            thread.start()
        try:
            for n in range(2, 9):
                write(a, version(n, "/a"), atomic=n % 2 == 0)
                write(b, version(n, "/b"), atomic=n % 2 == 0)
                wait_for(lambda n=n: all(v and v[-1] == n for v in seen.values()),
                         why=lambda n=n: f"waiting for version {n}: last seen "
                                         f"{ {k: v[-3:] for k, v in seen.items()} }, "
                                         f"failures {failures[-3:]}, stdout {served.lines[-5:]}, "
                                         f"stderr {served.errors[-5:]}")
                if n == 5:  # a broken save: the previous version keeps serving, health says why
                    write(a, "name: live-a\nrules:\n  - match: {path: /a}\n    respond: {statuss: 200}\n",
                          atomic=True)
                    health = wait_for(lambda: requests.get(served.url + "/__mock/health", timeout=5)
                                      .json()["reload_error"])
                    assert "a.yaml:4:" in health and "statuss" in health
                    time.sleep(0.3)
                    assert all(v[-1] == 5 for v in seen.values())
        finally:
            stop.set()
            for thread in threads:
                thread.join(10)
        assert failures == []
        for name, versions in seen.items():
            assert versions == sorted(versions), f"{name} went back to an older version"
            assert set(versions) >= {1, 8} and len(versions) > 20, name
        health = requests.get(served.url + "/__mock/health", timeout=5).json()
        assert health == {"status": "ok", "scenarios": 2, "rules": 2, "reload_error": None}
        assert served.stop() == 0
    failed = "reload failed, still serving the previous scenarios: 1 problem(s)"
    assert any(failed in e for e in served.errors)
    assert any(".yaml:4:" in e and "statuss" in e for e in served.errors)
    assert any(line.startswith("mockserver: reloaded 2 scenario(s), 2 rule(s)") for line in served.lines)


def test_scenarios_added_over_http_survive_a_reload(tmp_path: Path) -> None:
    file = tmp_path / "a.yaml"
    file.write_text(version(1))
    with serve(str(file), "--watch", "--watch-interval", "0.05") as served:
        extra = {"name": "extra", "rules": [{"match": {"path": "/extra"}, "respond": {"body": "extra"}}]}
        assert requests.post(served.url + "/__mock/scenarios", json=extra, timeout=5).status_code == 201
        write(file, version(2), atomic=True)
        wait_for(lambda: requests.get(served.url + "/a", timeout=5).text == "2")
        assert requests.get(served.url + "/extra", timeout=5).text == "extra"
        names = [s["name"] for s in requests.get(served.url + "/__mock/scenarios", timeout=5).json()]
        assert names == ["live-a", "extra"]
