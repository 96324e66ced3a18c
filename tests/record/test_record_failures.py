"""An upstream that is down, slow or resetting while `mockserver record` runs: the client gets the
gateway answer in the catalogue's shape at once, and the recording keeps each failure as a fault."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import requests
import yaml

from mockserver import catalogue
from mockserver.record.build import fold_path
from tests.record.live import mockserver_process, stop


def record_one(target: str, out: Path, path: str, *extra: str) -> requests.Response:
    with mockserver_process("record", "--target", target, "--out", str(out), "--port", "0", "--quiet",
                            *extra) as (proc, url, _):
        answer = requests.get(url + path, timeout=10)
        stop(proc, signal.SIGTERM)
    return answer


@pytest.mark.parametrize(("kind", "status", "reason", "message", "fault"), [
    ("refused", 502, "Bad Gateway", "the connection was refused", "reset"),
    ("resetting", 502, "Bad Gateway", "the upstream closed or reset the connection before answering",
     "reset"),
    ("slow", 504, "ServerTimeout", "no answer in time", "hang"),
])
def test_a_failing_upstream_is_a_gateway_answer_then_a_fault_rule(
        tmp_path: Path, kind: str, status: int, reason: str, message: str, fault: str, refused_url: str,
        resetting_upstream: str, httpbin_url: str) -> None:
    target, path = {"refused": (refused_url, "/orders"), "resetting": (resetting_upstream, "/orders"),
                    "slow": (httpbin_url, "/delay/3")}[kind]
    out = tmp_path / f"{kind}.yaml"
    answer = record_one(target, out, path, "--proxy-timeout", "0.5")
    assert (answer.status_code, answer.reason) == (status, reason)
    assert reason == catalogue.reason_phrase(status)
    assert answer.json() == {"error_code": f"CSS.0{status}",
                             "error_msg": f"The upstream {target} did not answer: {message}."}
    rules = yaml.safe_load(out.read_text())["rules"]
    assert len(rules) == 1
    assert rules[0]["match"] == {"method": "GET", "path": fold_path(path)[0]}  # /delay/{delay_id}
    assert rules[0]["fault"] == fault
    # replayed with nothing upstream, the client meets the failure itself
    with mockserver_process("serve", str(out), "--port", "0", "--quiet") as (proc, url, _):
        error = requests.ConnectionError if fault == "reset" else requests.ReadTimeout
        with pytest.raises(error):
            requests.get(url + path, timeout=0.5)
        stop(proc)
