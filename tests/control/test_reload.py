"""--watch: files change under load, and every answer comes whole from one version or the next."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import aiohttp
import pytest
import requests

from mockserver import MockServer
from mockserver.control import reload as reload_module
from mockserver.control.reload import Watcher, body_files, scan
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
        assert isinstance(health.pop("pid"), int)
        assert health == {"status": "ok", "scenarios": 2, "rules": 2, "reload_error": None, "state": None}
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


# --- what the watcher sees, and what it does with errors --------------------------------------


async def test_a_save_between_the_load_and_the_watcher_start_is_loaded(tmp_path: Path) -> None:
    """The flaky hammer test's cause: `serve` loaded the files, said it was listening, and only then
    took the watcher's first look, so a save in between (the test's first one) was never seen."""
    file = tmp_path / "a.yaml"
    file.write_text(version(1))
    baseline = scan([file])  # what `serve --watch` takes before loading
    server = MockServer(str(file))
    write(file, version(22), atomic=False)  # another size: visible whatever the clock's granularity
    late = Watcher(server, [file], interval=0.01)  # a first look taken now misses it for good
    assert await late.poll() is False
    watcher = Watcher(server, [file], interval=0.01, snapshot=baseline)
    assert await watcher.poll() is True
    assert [r.name for r in server.scenarios[0].rules] == ["v22"]


def test_watching_a_single_file_reloads_when_its_body_files_change(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "order.json").write_text('{"state": "paid"}')
    (tmp_path / "note.txt").write_text("one")
    file = tmp_path / "s.yaml"
    file.write_text("name: s\nrules:\n  - match: {path: /order}\n    respond: {file: data/order.json}\n"
                    "  - match: {path: /note}\n    respond: [{file: note.txt}]\n")
    with serve(str(file), "--watch", "--watch-interval", "0.05", "--quiet") as served:
        assert requests.get(served.url + "/order", timeout=5).json() == {"state": "paid"}
        (tmp_path / "data" / "order.json").write_text('{"state": "shipped"}')
        wait_for(lambda: requests.get(served.url + "/order", timeout=5).json() == {"state": "shipped"})
        write(tmp_path / "note.txt", "two", atomic=True)
        wait_for(lambda: requests.get(served.url + "/note", timeout=5).text == "two")
        assert served.stop() == 0
    assert sum(line.startswith("mockserver: reloaded 1 scenario(s)") for line in served.lines) == 2


def test_body_files_are_read_from_the_event_stream(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("name: s\nx: &a {file: shared.txt}\nrules:\n  - respond: {file: a.txt}\n"
                    "  - respond: [{file: sub/b.json}, {body: file}]\n"
                    "  - respond: {json: {file: {x: 1}, y: [file, q.txt]}, headers: {file: ../outside}}\n"
                    "  - respond: *a\n")
    assert body_files(file) == [(tmp_path / n).resolve() for n in ("shared.txt", "a.txt", "sub/b.json")]
    file.write_text("name: s\nrules: [{respond: {file: [unclosed")
    assert body_files(file) == []  # not YAML: the reload reports it, the file itself is watched


async def test_an_error_that_is_not_in_a_file_is_reported_and_watching_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "a.yaml"
    file.write_text(version(1))
    reports: list[tuple[bool, str]] = []
    async with MockServer(str(file)) as server:
        watcher = Watcher(server, [file], interval=0.01,
                          report=lambda ok, message, _: reports.append((ok, message)))
        failures = iter([RuntimeError("disk on fire")])
        real = reload_module.load_paths

        def load_paths(paths: list[Path]) -> object:
            failure = next(failures, None)
            if failure is not None:
                raise failure
            return real(paths)

        monkeypatch.setattr(reload_module, "load_paths", load_paths)
        write(file, version(2), atomic=True)
        task = asyncio.create_task(watcher.run())
        try:
            for _ in range(500):
                if reports:
                    break
                await asyncio.sleep(0.01)
            assert reports == [(False, "reload failed, still serving the previous scenarios: "
                                       "RuntimeError: disk on fire")]
            async with aiohttp.ClientSession() as session:
                async with session.get(server.url_for("/__mock/health")) as resp:
                    health = await resp.json()
                async with session.get(server.url_for("/a")) as resp:
                    assert await resp.text() == "1"  # the previous scenarios keep serving
            assert health["reload_error"] == ("the watcher failed: RuntimeError: disk on fire; still serving "
                                              "the previous scenarios, still watching")
            write(file, version(3), atomic=True)  # still watching: the next save is loaded
            for _ in range(500):
                if len(reports) > 1:
                    break
                await asyncio.sleep(0.01)
            assert reports[1] == (True, "reloaded 1 scenario(s), 1 rule(s)")
            assert server.reload_error is None and not task.done()
        finally:
            task.cancel()


async def test_a_failing_look_at_the_files_does_not_stop_the_watcher(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "a.yaml"
    file.write_text(version(1))
    reports: list[tuple[bool, str]] = []
    server = MockServer(str(file))
    watcher = Watcher(server, [file], interval=0.01,
                      report=lambda ok, message, _: reports.append((ok, message)))
    looks = iter([OSError(5, "Input/output error")])
    real = watcher.scan

    def scan_once() -> reload_module.Snapshot:
        failure = next(looks, None)
        if failure is not None:
            raise failure
        return real()

    monkeypatch.setattr(watcher, "scan", scan_once)
    task = asyncio.create_task(watcher.run())
    try:
        for _ in range(500):
            if reports:
                break
            await asyncio.sleep(0.01)
        assert reports == [(False, "reload failed, still serving the previous scenarios: "
                                   "OSError: [Errno 5] Input/output error")]
        write(file, version(2), atomic=True)
        for _ in range(500):
            if len(reports) > 1:
                break
            await asyncio.sleep(0.01)
        assert reports[1][0] is True and [r.name for r in server.scenarios[0].rules] == ["v2"]
    finally:
        task.cancel()


def test_a_file_the_loader_chokes_on_is_reported_and_the_next_save_loads(tmp_path: Path) -> None:
    file = tmp_path / "a.yaml"
    file.write_text(version(1))
    with serve(str(file), "--watch", "--watch-interval", "0.05", "--quiet") as served:
        # nested past the interpreter's stack: an error that is no ScenarioError today
        file.write_text("name: live-a\nrules: " + "[" * 20_000 + "]" * 20_000 + "\n")
        health = served.url + "/__mock/health"
        assert wait_for(lambda: requests.get(health, timeout=5).json()["reload_error"])
        assert requests.get(served.url + "/a", timeout=5).text == "1"
        write(file, version(2), atomic=True)
        wait_for(lambda: requests.get(served.url + "/a", timeout=5).text == "2")
        assert requests.get(served.url + "/__mock/health", timeout=5).json()["reload_error"] is None
        assert served.stop() == 0
    assert any("reload failed, still serving the previous scenarios" in line for line in served.errors)
    assert not any("Traceback" in line for line in served.errors)
