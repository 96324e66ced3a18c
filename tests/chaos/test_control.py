"""Faults asked for by request headers (opt-in) and faults added at run time."""

from __future__ import annotations

import time

import httpx
import pytest
import requests

from mockserver import MockServer, ScenarioError

PLAIN = {"name": "plain", "rules": [{"match": {"path": "/x"}, "respond": {"body": "ok"}}]}


def test_header_control_is_off_by_default() -> None:
    with MockServer(PLAIN) as server:
        r = requests.get(server.url_for("/x"), headers={"X-Mock-Status": "503"}, timeout=5)
        assert r.status_code == 200


def test_header_control_status_delay_fault_and_envoy_headers() -> None:
    with MockServer(PLAIN, header_control=True) as server:
        url = server.url_for("/x")
        r = requests.get(url, headers={"X-Mock-Status": "503"}, timeout=5)
        assert (r.status_code, r.reason) == (503, "ServiceUnavailable")
        r = requests.get(url, headers={"x-envoy-fault-abort-request": "429"}, timeout=5)
        assert r.status_code == 429
        r = requests.get(url, headers={"x-envoy-fault-abort-request": "500",
                                       "x-envoy-fault-abort-request-percentage": "0"}, timeout=5)
        assert r.status_code == 200
        started = time.monotonic()
        assert requests.get(url, headers={"x-envoy-fault-delay-request": "200"}, timeout=5).text == "ok"
        assert time.monotonic() - started >= 0.19
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(url, headers={"X-Mock-Fault": "reset"}, timeout=5)
        r = requests.get(server.url_for("/nowhere"), headers={"X-Mock-Status": "502"}, timeout=5)
        assert r.status_code == 502  # server-wide header control reaches unmatched paths too


def test_scenario_can_enable_header_control() -> None:
    with MockServer({**PLAIN, "header_control": True}) as server:
        assert requests.get(server.url_for("/x"), headers={"X-Mock-Status": "418"}).status_code == 418


def test_runtime_faults_are_added_and_removed() -> None:
    with MockServer(PLAIN) as server:
        added = server.add_fault({"name": "outage", "match": {"path": "/x"}, "respond": {"status": 503}})
        assert added == {"name": "outage", "match": {"path": "/x"}, "respond": {"status": 503},
                         "probability": 1.0}
        assert requests.get(server.url_for("/x")).status_code == 503
        server.add_fault({"fault": "close"})
        assert [f["name"] for f in server.list_faults()] == ["outage", "fault-1"]
        assert server.remove_fault("outage") is True
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(server.url_for("/x"))
        assert server.remove_fault("fault-1") is True
        assert server.remove_fault("fault-1") is False
        assert requests.get(server.url_for("/x")).text == "ok"


def test_bad_runtime_fault_changes_nothing() -> None:
    with MockServer(PLAIN) as server:
        with pytest.raises(ScenarioError) as info:
            server.add_fault({"fault": "explode"})
        assert str(info.value).startswith("<fault>: fault: found 'explode'; expected 'reset', 'close'")
        assert server.list_faults() == []
