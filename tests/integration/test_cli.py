"""The mockserver command as a user runs it: a real process, real signals."""

from __future__ import annotations

import argparse
import importlib.metadata
import io
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

from mockserver import cli
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


# --- every option is range-checked: one line naming the flag or variable, exit 2 ---------------

# (flag, variable, a bad value, what the message says is valid)
BAD = [
    ("--host", "MOCKSERVER_HOST", "a b", "a host name or address such as 127.0.0.1 or 0.0.0.0"),
    ("--port", "MOCKSERVER_PORT", "70000", "an integer from 0 to 65535 (0 picks a free port)"),
    ("--port", "MOCKSERVER_PORT", "-1", "an integer from 0 to 65535 (0 picks a free port)"),
    ("--port", "MOCKSERVER_PORT", "eighty", "an integer from 0 to 65535 (0 picks a free port)"),
    ("--seed", "MOCKSERVER_SEED", "1.5", "an integer"),
    ("--max-delay", "MOCKSERVER_MAX_DELAY", "-5", "a number of seconds, 0 or more"),
    ("--max-delay", "MOCKSERVER_MAX_DELAY", "inf", "a number of seconds, 0 or more"),
    ("--shutdown-timeout", "MOCKSERVER_SHUTDOWN_TIMEOUT", "soon", "a number of seconds, 0 or more"),
    ("--max-body", "MOCKSERVER_MAX_BODY", "-1",
     "a number of bytes, 0 or more (0 refuses every request body)"),
    ("--max-uri", "MOCKSERVER_MAX_URI", "0", "a number of octets, 1 or more"),
    ("--max-header", "MOCKSERVER_MAX_HEADER", "-8", "a number of octets, 1 or more"),
    ("--max-headers", "MOCKSERVER_MAX_HEADERS", "0", "a number of header fields, 1 or more"),
    ("--header-timeout", "MOCKSERVER_HEADER_TIMEOUT", "0", "a number of seconds above 0"),
    ("--keepalive-timeout", "MOCKSERVER_KEEPALIVE_TIMEOUT", "-1", "a number of seconds above 0"),
    ("--body-timeout", "MOCKSERVER_BODY_TIMEOUT", "nan", "a number of seconds above 0"),
    ("--max-connections", "MOCKSERVER_MAX_CONNECTIONS", "0", "a number of connections, 1 or more"),
    ("--backlog", "MOCKSERVER_BACKLOG", "0", "a number of connections, 1 or more"),
    ("--journal-size", "MOCKSERVER_JOURNAL_SIZE", "-3", "a number of entries, 0 or more (0 keeps none)"),
    ("--time-scale", "MOCKSERVER_TIME_SCALE", "-1",
     "a number above 0 (0.01 makes every delay 100 times shorter)"),
    ("--time-scale", "MOCKSERVER_TIME_SCALE", "0",
     "a number above 0 (0.01 makes every delay 100 times shorter)"),
    ("--state", "MOCKSERVER_STATE", "postgres://x",
     "memory or redis://HOST:PORT/DB (rediss:// for TLS, unix:///path/to/socket)"),
    ("--state-prefix", "MOCKSERVER_STATE_PREFIX", "a b",
     "a key prefix without spaces, such as mockserver or ci-job-42"),
    ("--state-timeout", "MOCKSERVER_STATE_TIMEOUT", "-1", "a number of seconds above 0, such as 2"),
    ("--state-lease", "MOCKSERVER_STATE_LEASE", "0", "a number of seconds above 0, such as 60"),
    ("--gc-threshold", "MOCKSERVER_GC_THRESHOLD", "-5",
     "0 (Python's default) or a positive number of allocations"),
    ("--loop", "MOCKSERVER_LOOP", "trio", "asyncio or uvloop"),
    ("--workers", "MOCKSERVER_WORKERS", "65", "an integer from 1 to 64"),
    ("--watch-interval", "MOCKSERVER_WATCH_INTERVAL", "0", "a number of seconds, 0.01 or more"),
    *[(flag, name, bad, "an integer from 0 to 65535 (0 picks a free port)") for flag, name, bad in (
        ("--refuse-port", "MOCKSERVER_REFUSE_PORT", "-1"),
        ("--silent-port", "MOCKSERVER_SILENT_PORT", "65536"),
        ("--blackhole-port", "MOCKSERVER_BLACKHOLE_PORT", "x"))],
    ("--cert-out", "MOCKSERVER_CERT_OUT", "a\nb", "a file path"),
    ("--cert", "MOCKSERVER_TLS_CERT", "my\tcert.pem", "a file path"),
    ("--key", "MOCKSERVER_TLS_KEY", "x y", "a file path"),
    ("--proxy-unmatched", "MOCKSERVER_PROXY_UNMATCHED", "ftp://x",
     "an http:// or https:// URL without query or fragment, such as http://127.0.0.1:8000"),
    ("--proxy-timeout", "MOCKSERVER_PROXY_TIMEOUT", "0", "a number of seconds above 0"),
    ("--proxy-ca", "MOCKSERVER_PROXY_CA", "/no/such/ca.pem", "an existing PEM file of CA certificates"),
    ("--tls-fault", "MOCKSERVER_TLS_FAULT", "expird",
     "expired or not_yet_valid or wrong_host or self_signed or untrusted_ca or missing_intermediate or "
     "handshake_stall or handshake_reset or old_protocol or weak_cipher"),
]
SWITCHES = [("--header-control", "MOCKSERVER_HEADER_CONTROL"),
            ("--public-health", "MOCKSERVER_PUBLIC_HEALTH"), ("--log-json", "MOCKSERVER_LOG_JSON"),
            ("--quiet", "MOCKSERVER_QUIET"), ("--watch", "MOCKSERVER_WATCH"), ("--tls", "MOCKSERVER_TLS")]
TOKEN_EXPECTED = ("a token of visible ASCII characters, without spaces (it is sent as "
                  "'Authorization: Bearer TOKEN')")


def run_main(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, env=env or {}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("flag", "variable", "value", "expected"), BAD,
                         ids=[f"{b[0]}={b[2]!r}" for b in BAD])
def test_a_bad_flag_value_is_one_line_and_exit_2(flag: str, variable: str, value: str, expected: str) -> None:
    message = f"mockserver: {flag}: found {value!r}; expected {expected}\n"
    assert run_main(["serve", flag, value]) == (2, "", message)


@pytest.mark.parametrize(("flag", "variable", "value", "expected"), BAD,
                         ids=[f"{b[1]}={b[2]!r}" for b in BAD])
def test_a_bad_variable_is_one_line_and_exit_2(flag: str, variable: str, value: str, expected: str) -> None:
    assert run_main(["serve"], {variable: value}) == (
        2, "", f"mockserver: {variable}: found {value!r}; expected {expected}\n")


@pytest.mark.parametrize(("flag", "variable"), SWITCHES)
def test_a_bad_switch_variable_is_one_line(flag: str, variable: str) -> None:
    assert run_main(["serve"], {variable: "maybe"}) == (
        2, "", f"mockserver: {variable}: found 'maybe'; "
               "expected one of 1, 0, true, false, yes, no, on, off\n")


def test_a_bad_token_is_refused_without_showing_it() -> None:
    assert run_main(["serve", "--admin-token", "sec ret"]) == (
        2, "", "mockserver: --admin-token: found a value (not shown: it is a secret); "
               f"expected {TOKEN_EXPECTED}\n")
    assert run_main(["serve"], {"MOCKSERVER_ADMIN_TOKEN": "sec\tret"}) == (
        2, "", "mockserver: MOCKSERVER_ADMIN_TOKEN: found a value (not shown: it is a secret); "
               f"expected {TOKEN_EXPECTED}\n")


def test_a_bad_tls_name_is_refused() -> None:
    assert run_main(["serve", "--tls-name", ""]) == (
        2, "", "mockserver: --tls-name: found ''; expected a host name\n")


def test_every_serve_option_is_in_these_tables() -> None:
    """A new option gets a range check and a row here: the help lists what the tables must cover."""
    code, help_text, _ = run_main(["serve", "--help"])
    assert code == 0
    flags = set(re.findall(r"(--[a-z][a-z-]+)", help_text)) - {"--help"}
    covered = {b[0] for b in BAD} | {s[0] for s in SWITCHES} | {"--admin-token", "--tls-name"}
    assert flags == covered


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The options `serve` would start with (it is stopped just before serving)."""
    seen: list[object] = []
    monkeypatch.setattr(cli, "_serve", lambda args, env, out, err: seen.append(args) or 0)
    return seen


@pytest.mark.parametrize(("argv", "env", "dest", "expected"), [
    ([], {}, "port", 8080),
    (["--port", "0"], {}, "port", 0),
    (["--port", "65535"], {"MOCKSERVER_PORT": "1"}, "port", 65535),  # flags win
    ([], {"MOCKSERVER_PORT": " 9090 "}, "port", 9090),
    ([], {"MOCKSERVER_HOST": ""}, "host", "127.0.0.1"),  # an empty variable is unset
    ([], {"MOCKSERVER_SEED": "-7"}, "seed", -7),
    (["--max-delay", "0"], {}, "max_delay", 0.0),
    (["--max-body", "0"], {}, "max_body", 0),
    (["--journal-size", "0"], {}, "journal_size", 0),
    ([], {"MOCKSERVER_TIME_SCALE": "0.01"}, "time_scale", 0.01),
    ([], {}, "gc_threshold", 10_000),
    ([], {"MOCKSERVER_QUIET": "yes"}, "quiet", True),
    ([], {"MOCKSERVER_QUIET": ""}, "quiet", False),
    (["--quiet"], {"MOCKSERVER_QUIET": "0"}, "quiet", True),
    ([], {"MOCKSERVER_TLS_NAMES": "a, b,"}, "tls_name", ["a", "b"]),
    ([], {"MOCKSERVER_ADMIN_TOKEN": "t0k-en"}, "admin_token", "t0k-en"),
    ([], {"MOCKSERVER_WATCH_INTERVAL": "0.01"}, "watch_interval", 0.01),
    ([], {"MOCKSERVER_SILENT_PORT": "0"}, "silent_port", 0),
    ([], {}, "refuse_port", None),
])
def test_values_in_range_are_taken(resolved: list[argparse.Namespace], argv: list[str], env: dict[str, str],
                                   dest: str, expected: object) -> None:
    assert run_main(["serve", *argv], env) == (0, "", "")
    assert getattr(resolved[0], dest) == expected


def test_other_commands_do_not_read_the_serve_variables() -> None:
    code, out, err = run_main(["validate", "scenarios"], {"MOCKSERVER_PORT": "70000"})
    assert (code, err) == (0, "") and out.startswith("ok: ")


@pytest.mark.parametrize(("argv", "message"), [
    (["serve", "--prot", "1"], "mockserver: unrecognized arguments: --prot; see 'mockserver --help'\n"),
    (["serv"], "mockserver: command: invalid choice: 'serv' (choose from 'serve', 'validate', 'schema', "
               "'report', 'import', 'record'); "
               "see 'mockserver --help'\n"),
    (["serve", "--port"], "mockserver: --port: expected one argument; see 'mockserver serve --help'\n"),
    ([], "mockserver: the following arguments are required: command; see 'mockserver --help'\n"),
])
def test_usage_mistakes_are_one_line(argv: list[str], message: str) -> None:
    assert run_main(argv) == (2, "", message)


def test_version() -> None:
    line = f"mockserver {importlib.metadata.version('mockserver')}\n"
    assert run_main(["--version"]) == (0, line, "")
    proc = subprocess.run([sys.executable, "-m", "mockserver", "--version"], capture_output=True, text=True,
                          cwd=ROOT, timeout=30, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, line, "")


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--port", "70000"], {}, "mockserver: --port: found '70000'; expected an integer from 0 to 65535 "
                              "(0 picks a free port)\n"),
    ([], {"MOCKSERVER_PORT": "70000"},
     "mockserver: MOCKSERVER_PORT: found '70000'; expected an integer from 0 to 65535 "
     "(0 picks a free port)\n"),
    (["--journal-size", "-3"], {}, "mockserver: --journal-size: found '-3'; expected a number of entries, "
                                   "0 or more (0 keeps none)\n"),
])
def test_a_real_process_says_one_line_and_exits_2(args: list[str], env: dict[str, str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "mockserver", "serve", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=30, check=False, env={**os.environ, **env})
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", message)


@pytest.mark.parametrize("command", ["schema", "validate scenarios scenarios/css",
                                     "--help", "serve --help"])
def test_output_into_a_closed_pipe_is_quiet(command: str) -> None:
    """`mockserver schema | true`: the reader is gone before the output is written."""
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {sys.executable} -m mockserver {command} | true"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert proc.stderr == ""
    assert proc.returncode in (0, 1)  # 1 when the write met the closed pipe, 0 if it all fit before
