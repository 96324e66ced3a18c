"""The mockserver command as a user runs it: a real process, real signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.conftest import DATA, ROOT


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, **(env or {})})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, f"unexpected first line {line!r}; stderr: {proc.stderr.read() if proc.stderr else ''}"
        yield proc, match.group(1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_builtins_reports_url_and_stops_cleanly(sig: signal.Signals) -> None:
    with serve() as (proc, url):
        assert requests.get(url + "/hello", timeout=5).text == "hello from mockserver\n"
        proc.send_signal(sig)
        assert proc.wait(10) == 0
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_serve_a_given_file_with_seed(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\nrules:\n  - match: {path: /x}\n"
                        "    respond: {delay: {uniform: [0s, 10ms]}, body: x}\n")
    with serve(str(scenario), "--seed", "5") as (proc, url):
        assert requests.get(url + "/x", timeout=5).text == "x"
        assert requests.get(url + "/hello", timeout=5).status_code == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_serve_refuses_invalid_files_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", str(DATA / "invalid" / "bad-then.yaml")],
        capture_output=True, text=True, cwd=ROOT, timeout=30, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"{DATA / 'invalid' / 'bad-then.yaml'}:5:11: rules[0].then: found 'cycl'; "
        "expected 'cycle', 'last' or a mapping",
        "mockserver: refusing to serve: 1 problem(s) in the scenarios",
    ]


def test_port_in_use_is_a_message_not_a_traceback() -> None:
    with serve() as (_, url):
        port = url.rsplit(":", 1)[1]
        proc = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", port],
                              capture_output=True, text=True, cwd=ROOT, timeout=30, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"mockserver: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in proc.stderr


def test_environment_configures_serve(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text("name: e\nrules: [{match: {path: /env}, respond: {status: 202}}]\n")
    with serve(env={"MOCKSERVER_SCENARIOS": str(tmp_path)}) as (proc, url):
        assert requests.get(url + "/env", timeout=5).status_code == 202
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_console_script_is_installed() -> None:
    out = subprocess.run(["mockserver", "--help"], capture_output=True, text=True, timeout=30,
                         check=False, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:"
                                                                 f"{os.environ.get('PATH', '')}"})
    assert out.returncode == 0 and "serve" in out.stdout and "validate" in out.stdout


def test_limits_and_chaos_flags_reach_the_server() -> None:
    with serve("--max-uri", "100", "--journal-size", "2", "--header-control") as (proc, url):
        assert requests.get(url + "/hello?" + "a" * 200, timeout=5).status_code == 414
        assert requests.get(url + "/hello", headers={"X-Mock-Status": "503"}, timeout=5).status_code == 503
        for _ in range(3):
            requests.get(url + "/hello", timeout=5)
        journal = requests.get(url + "/__mock/journal", timeout=5).json()
        assert journal["count"] == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_limits_come_from_the_environment_too() -> None:
    with serve(env={"MOCKSERVER_MAX_URI": "50"}) as (proc, url):
        assert requests.get(url + "/hello?" + "a" * 100, timeout=5).status_code == 414
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
