"""``mockserver serve`` with the CI options: TLS, JSON logs, a token, metrics, SIGTERM bounds."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mockserver import MockServer
from mockserver.cli import main
from mockserver.journal import Entry
from mockserver.output import describe_exchange
from mockserver.wire.tls import self_signed
from tests.conftest import ROOT
from tests.control.conftest import serve

SLOW = ("name: slow\nrules:\n  - name: slow\n    match: {path: /slow}\n"
        "    respond: {delay: 30s, body: late}\n"
        "  - name: soon\n    match: {path: /soon}\n    respond: {delay: 1s, body: soon}\n")
TOKEN = "serve-token-abcdef"


@pytest.fixture
def slow_file(tmp_path: Path) -> Path:
    path = tmp_path / "slow.yaml"
    path.write_text(SLOW)
    return path


def in_background(url: str, into: dict[str, object]) -> threading.Thread:
    def go() -> None:
        started = time.monotonic()
        try:
            resp = requests.get(url, timeout=40)
            into["answer"] = (resp.status_code, resp.text)
        except requests.RequestException as exc:
            into["answer"] = type(exc).__name__
        into["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def wait_in_flight(url: str, count: int = 1, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + 5
    while f"mockserver_in_flight_requests {count}" not in requests.get(
            url + "/__mock/metrics", headers=headers, timeout=5).text:
        assert time.monotonic() < deadline, "the request never got in flight"
        time.sleep(0.02)


# --- shutdown -------------------------------------------------------------------------------------


def test_sigterm_cuts_a_long_answer_at_the_shutdown_timeout_and_exits_0(slow_file: Path) -> None:
    with serve(str(slow_file), "--shutdown-timeout", "1") as served:
        result: dict[str, object] = {}
        thread = in_background(served.url + "/slow", result)
        wait_in_flight(served.url)
        stopped = time.monotonic()
        served.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(requests.ConnectionError):  # no longer accepting
            requests.get(served.url + "/soon", timeout=2)
        assert served.proc.wait(10) == 0
        assert time.monotonic() - stopped < 3  # the bound (1s), plus process exit on a busy machine
        thread.join(10)
    assert result["answer"] == "ConnectionError"
    assert served.lines[-1] == ("mockserver: 1 answer(s) still in flight after 1s; "
                                "their connections are closed")
    assert not [line for line in served.errors if "Traceback" in line]


def test_sigterm_lets_an_answer_within_the_timeout_finish(slow_file: Path) -> None:
    with serve(str(slow_file), "--shutdown-timeout", "5") as served:
        result: dict[str, object] = {}
        thread = in_background(served.url + "/soon", result)
        wait_in_flight(served.url)
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(10) == 0
        thread.join(10)
    assert result["answer"] == (200, "soon")
    assert served.lines[-2] == "mockserver: shutting down"
    assert re.fullmatch(r"GET /soon -> 200 OK \(slow/soon\) 1\.\d\ds", served.lines[-1])  # logged when done


# --- TLS -------------------------------------------------------------------------------------------


def test_tls_with_a_generated_certificate(tmp_path: Path) -> None:
    ca = tmp_path / "out" / "ca.pem"
    with serve("--tls", "--cert-out", str(ca), "--tls-name", "mock.test") as served:
        assert served.url.startswith("https://127.0.0.1:")
        assert f"mockserver: clients trust the CA certificate {ca}" in served.lines
        hello = requests.get(served.url + "/hello", verify=str(ca), timeout=5)
        assert hello.text == "hello from mockserver\n"
        localhost = served.url.replace("127.0.0.1", "localhost")
        assert requests.get(localhost + "/hello", verify=str(ca), timeout=5).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(served.url + "/hello", timeout=5)  # not trusted without the CA
        assert served.stop() == 0


def test_tls_with_a_given_certificate(tmp_path: Path) -> None:
    made = self_signed(tmp_path / "pki")
    with serve("--cert", str(made.cert), "--key", str(made.key)) as served:
        assert requests.get(served.url + "/hello", verify=str(made.ca), timeout=5).status_code == 200
        assert not any("clients trust" in line for line in served.lines)  # nothing generated


def test_huawei_sdk_trusts_the_mock_through_ssl_ca_cert(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.exceptions.exceptions import SslHandShakeException
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkcss.v1 import CssClient, ListClustersDetailsRequest

    monkeypatch.setenv("HOME", str(tmp_path))  # the SDK writes ~/.huaweicloud/application_id
    for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    project = "0123456789abcdef0123456789abcdef"
    scenario = tmp_path / "css.yaml"
    scenario.write_text("name: css\nrules:\n  - match: {method: GET, path: '/v1.0/{project_id}/clusters'}\n"
                        "    respond: {json: {totalSize: 0, clusters: []}}\n")
    ca = tmp_path / "ca.pem"
    with serve(str(scenario), "--tls", "--cert-out", str(ca)) as served:

        def client(trust: str | None) -> CssClient:
            config = HttpConfig.get_default_config()
            config.timeout = (2, 5)
            config.retry_times = 0
            if trust is not None:
                config.ssl_ca_cert = trust
            return (CssClient.new_builder().with_http_config(config)
                    .with_credentials(BasicCredentials("MOCKAK", "mock-secret-key", project))
                    .with_endpoints([served.url]).build())

        answer = client(str(ca)).list_clusters_details(ListClustersDetailsRequest(limit=10))
        assert answer.total_size == 0
        with pytest.raises(SslHandShakeException):
            client(None).list_clusters_details(ListClustersDetailsRequest(limit=10))


def test_tls_refusals_are_one_line() -> None:
    err = io.StringIO()
    assert main(["serve", "--cert", "x.pem"], env={}, stderr=err) == 1
    assert err.getvalue() == "mockserver: --cert and --key go together; give both or neither\n"
    err = io.StringIO()
    assert main(["serve", "--cert", "missing.pem", "--key", "missing.pem"], env={}, stderr=err) == 1
    assert err.getvalue().startswith("mockserver: cannot set up TLS: ")


def test_a_negative_gc_threshold_is_refused() -> None:
    err = io.StringIO()
    assert main(["serve", "--gc-threshold", "-5"], env={}, stderr=err) == 2
    assert err.getvalue() == ("mockserver: --gc-threshold: found '-5'; expected 0 (Python's default) "
                              "or a positive number of allocations\n")


@pytest.mark.parametrize(("threshold", "expected"), [(10_000, "10000 True"), (0, "700 False")])
def test_serving_tunes_the_collector_of_its_own_process(threshold: int, expected: str) -> None:
    """tune_gc is what `serve` calls before the loop starts (in a child: it changes the process)."""
    code = (f"import gc; from mockserver.cli import tune_gc; tune_gc({threshold}); "
            "print(gc.get_threshold()[0], gc.get_freeze_count() > 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True)
    assert done.stdout.strip() == expected


@pytest.mark.parametrize(("args", "env", "expected"), [
    ([], {}, "10000 True"),
    (["--gc-threshold", "1234"], {}, "1234 True"),
    ([], {"MOCKSERVER_GC_THRESHOLD": "2345"}, "2345 True"),
    (["--gc-threshold", "0"], {}, "700 False"),
])
def test_serve_sets_the_collector_before_it_serves(args: list[str], env: dict[str, str],
                                                   expected: str) -> None:
    """What the serving loop finds: `serve` applies --gc-threshold / MOCKSERVER_GC_THRESHOLD."""
    code = ("import gc, sys, mockserver.cli as cli\n"
            "async def serving(*args):\n"
            "    print(gc.get_threshold()[0], gc.get_freeze_count() > 0)\n"
            "cli._run = serving\n"
            f"sys.exit(cli.main(['serve', '--port', '0', *{args!r}]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True, cwd=ROOT, env={**os.environ, **env})
    assert done.stdout.strip() == expected


# --- token, JSON logs, environment -------------------------------------------------------------


def test_token_from_the_environment_json_logs_and_no_secret_in_them(tmp_path: Path) -> None:
    with serve("--log-json", env={"MOCKSERVER_ADMIN_TOKEN": TOKEN}) as served:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.get(served.url + "/__mock/health", timeout=5).status_code == 401
        assert requests.get(served.url + "/__mock/health", headers=auth, timeout=5).status_code == 200
        requests.get(served.url + "/hello?x=1", headers={"X-Mock-Session": "s1"}, timeout=5)
        requests.get(served.url + "/nowhere", headers=auth, timeout=5)
        assert served.stop() == 0
    records = [json.loads(line) for line in served.lines]  # every line is JSON
    assert [r["event"] for r in records] == ["listening", "control", "exchange", "exchange", "stopping"]
    hello, nowhere = records[2], records[3]
    assert {k: hello[k] for k in ("method", "path", "query", "status", "rule", "outcome", "session")} == {
        "method": "GET", "path": "/hello", "query": "x=1", "status": 200, "rule": "demo/hello",
        "outcome": "answered", "session": "s1"}
    assert hello["time"].endswith("Z") and hello["duration"] >= 0 and hello["request_id"]
    assert (nowhere["status"], nowhere["rule"], nowhere["outcome"]) == (404, None, "unmatched")
    everything = "\n".join(served.lines + served.errors)
    assert TOKEN not in everything and "Authorization" not in everything


@pytest.mark.parametrize(("env", "message"), [
    ({"MOCKSERVER_PORT": "eighty"}, "mockserver: MOCKSERVER_PORT: found 'eighty'; expected an integer "
                                    "from 0 to 65535 (0 picks a free port)\n"),
    ({"MOCKSERVER_WATCH": "maybe"},
     "mockserver: MOCKSERVER_WATCH: found 'maybe'; expected one of 1, 0, true, false, yes, no, on, off\n"),
    ({"MOCKSERVER_SHUTDOWN_TIMEOUT": "soon"},
     "mockserver: MOCKSERVER_SHUTDOWN_TIMEOUT: found 'soon'; expected a number of seconds, 0 or more\n"),
])
def test_bad_environment_is_a_message(env: dict[str, str], message: str) -> None:
    err = io.StringIO()
    assert main(["serve"], env=env, stderr=err) == 2
    assert err.getvalue() == message


def test_metrics_are_valid_prometheus_text() -> None:
    scenario = {"name": "m", "rules": [
        {"name": "ok", "match": {"path": "/ok"}, "respond": {"delay": "20ms", "body": "ok"}},
        {"name": "busy", "match": {"path": "/busy"}, "respond": {"status": 503}}]}
    with MockServer(scenario) as server:
        for path in ("/ok", "/ok", "/busy", "/none"):
            requests.get(server.url_for(path), timeout=5)
        assert requests.post(server.url_for("/__mock/faults"), timeout=5,
                             json={"name": "down", "match": {"path": "/busy"}, "respond": {"status": 500}}
                             ).status_code == 201
        requests.get(server.url_for("/busy"), timeout=5)
        resp = requests.get(server.url_for("/__mock/metrics"), timeout=5)
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    requests_total = {(s.labels["rule"], s.labels["status"], s.labels["outcome"]): s.value
                      for s in families["mockserver_requests"].samples}
    assert requests_total[("m/ok", "200", "answered")] == 2
    assert requests_total[("m/busy", "503", "answered")] == 1
    assert requests_total[("", "404", "unmatched")] == 1
    assert sum(requests_total.values()) == 5
    faults = {s.labels["decision"]: s.value for s in families["mockserver_faults_injected"].samples}
    assert faults == {"runtime fault down": 1}  # the kind of "runtime fault down: answer 500"
    delays = {s.name + s.labels.get("le", ""): s.value
              for s in families["mockserver_response_delay_seconds"].samples}
    assert delays["mockserver_response_delay_seconds_count"] == 5
    assert delays["mockserver_response_delay_seconds_bucket0.01"] == 3  # the 503s and the 404
    assert delays["mockserver_response_delay_seconds_bucket0.025"] == 5
    assert 0.04 <= delays["mockserver_response_delay_seconds_sum"] < 0.05
    assert [s.value for s in families["mockserver_in_flight_requests"].samples] == [0]


def test_python_m_mockserver_help_lists_the_ci_options() -> None:
    out = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--help"], capture_output=True,
                         text=True, cwd=ROOT, timeout=30, check=True).stdout
    for option in ("--admin-token", "--public-health", "--log-json", "--watch", "--tls", "--cert-out",
                   "--cert", "--key", "--shutdown-timeout"):
        assert option in out


# --- a line per exchange ---------------------------------------------------------------------

ORDERS = ("name: orders\nrules:\n  - name: show-order\n    match: {method: GET, path: '/orders/{id}'}\n"
          "    respond: {json: {state: paid}}\n"
          "  - name: reset\n    match: {path: /reset}\n    fault: reset\n"
          "  - name: busy\n    match: {path: /busy}\n    respond: {status: 503, delay: 30ms}\n")
TOOK = r" \d+(\.\d)?ms"


def exchanges(served_lines: list[str]) -> list[str]:
    return [line for line in served_lines if not line.startswith("mockserver")]


def ask_orders(url: str) -> None:
    assert requests.get(url + "/orders/7", timeout=5).status_code == 200
    assert requests.get(url + "/order/7?x=1", timeout=5).status_code == 404
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/reset", timeout=5)
    assert requests.get(url + "/busy", timeout=5).status_code == 503
    assert requests.get(url + "/__mock/health", timeout=5).status_code == 200  # the control API: not logged


def test_serve_logs_one_line_per_exchange_and_unmatched_ones_stand_out(tmp_path: Path) -> None:
    (tmp_path / "orders.yaml").write_text(ORDERS)
    with serve(str(tmp_path / "orders.yaml")) as served:
        ask_orders(served.url)
        deadline = time.monotonic() + 5
        while len(exchanges(served.lines)) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert served.stop() == 0
    lines = exchanges(served.lines)
    assert len(lines) == 4, served.lines
    assert re.fullmatch(r"GET /orders/7 -> 200 OK \(orders/show-order\)" + TOOK, lines[0]), lines[0]
    assert re.fullmatch(r"UNMATCHED GET /order/7\?x=1 -> 404 NotFound \(no rule matched; nearest "
                        r"orders/show-order: .+\)" + TOOK, lines[1]), lines[1]
    # a fault: what the client met (no status once faults journal none, the fault's name either way)
    assert re.fullmatch(r"GET /reset -> (200 OK, )?fault reset \(orders/reset\)" + TOOK, lines[2]), lines[2]
    assert re.fullmatch(r"GET /busy -> 503 ServiceUnavailable \(orders/busy\) [3-9]\d(\.\d)?ms", lines[3]), \
        lines[3]
    assert served.lines[-1] == "mockserver: shutting down" and served.errors == []


@pytest.mark.parametrize(("args", "env"), [(["--quiet"], {}), ([], {"MOCKSERVER_QUIET": "1"}),
                                           (["--quiet", "--log-json"], {})])
def test_quiet_turns_the_exchange_lines_off(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    (tmp_path / "orders.yaml").write_text(ORDERS)
    with serve(str(tmp_path / "orders.yaml"), *args, env=env) as served:
        ask_orders(served.url)
        assert served.stop() == 0
    events = [json.loads(line)["event"] for line in served.lines] if "--log-json" in args else None
    assert events in (None, ["listening", "stopping"])
    if events is None:
        assert served.lines[1:] == ["mockserver: shutting down"]


def test_control_characters_in_a_request_cannot_forge_log_lines() -> None:
    entry = Entry(seq=1, request_id="r", method="GET", path="/a\r\nGET /forged -> 200 OK\x1b[2J",
                  query_string="", headers={}, body=b"", client="", session="", rule=None, status=404,
                  reason="NotFound", outcome="unmatched", arrived=1.0, ended=1.0005)
    assert describe_exchange(entry) == ("UNMATCHED GET /a\\r\\nGET /forged -> 200 OK\\x1b[2J -> 404 NotFound "
                                        "(no rule matched; no rule is near) 0.5ms")


@pytest.mark.parametrize(("status", "reason", "decisions", "expected"), [
    (None, "reset", (), "GET /f -> fault reset (s/f) 2.0ms"),  # a fault entry that carries its name
    (None, "", ("fault: close after 1s",), "GET /f -> fault close after 1s (s/f) 2.0ms"),
    (200, "OK", ("fault: truncate 10 bytes",), "GET /f -> 200 OK, fault truncate 10 bytes (s/f) 2.0ms"),
])
def test_a_fault_shows_what_the_client_met(status: int | None, reason: str, decisions: tuple[str, ...],
                                           expected: str) -> None:
    entry = Entry(seq=1, request_id="r", method="GET", path="/f", query_string="", headers={}, body=b"",
                  client="", session="", rule="s/f", status=status, reason=reason, outcome="fault",
                  arrived=1.0, ended=1.002, decisions=decisions)
    assert describe_exchange(entry) == expected


def test_a_log_nobody_reads_never_stalls_the_server(tmp_path: Path) -> None:
    """CI scripts read the first line and leave stdout in a pipe: 64 KiB later, writes would block."""
    proc = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        url = re.search(r"listening on (\S+) ", proc.stdout.readline()).group(1)  # type: ignore[union-attr]
        session = requests.Session()
        long_path = "/hello/" + "x" * 190  # about 240 bytes a line: 600 of them overfill a pipe twice
        for _ in range(600):
            assert session.get(url + long_path, timeout=5).status_code == 404
        assert session.get(url + "/hello", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        assert proc.stderr is not None
        errors = proc.stderr.read()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert "Traceback" not in errors


def test_a_closed_stdout_is_no_error_and_serving_goes_on() -> None:
    """`mockserver serve | head -1`: the log's reader is gone; answers and a clean exit are not."""
    proc = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        url = re.search(r"listening on (\S+) ", proc.stdout.readline()).group(1)  # type: ignore[union-attr]
        proc.stdout.close()
        for _ in range(20):
            assert requests.get(url + "/hello", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
