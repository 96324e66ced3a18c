"""css/statuses.yaml: a cluster id status-NNN answers NNN, for every failure in the status table."""

from __future__ import annotations

import time
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions import exceptions as sdk_exc

from mockserver import MockServer
from mockserver.catalogue import CATALOGUE, error_code
from mockserver.scenario import load_scenario
from tests.integration.test_builtin_scenarios import exercises
from tests.sdk.css_sdk import PACK, build_client, css

FAILURES = sorted(status for status in CATALOGUE if status >= 400)


def test_one_rule_per_failure_of_the_catalogue() -> None:
    scenario = load_scenario(PACK / "statuses.yaml")
    assert [rule.name for rule in scenario.rules] == [f"status-{s}" for s in FAILURES]


def expected_exception(status: int) -> type[Exception]:
    return sdk_exc.ClientRequestException if status < 500 else sdk_exc.ServerResponseException


@exercises("css/statuses.yaml")
@pytest.mark.parametrize("status", FAILURES)
def test_every_failure_reaches_the_sdk_as_its_exception(pack: MockServer, status: int) -> None:
    client, cid = build_client(pack), f"status-{status}"
    calls: list[tuple[str, Any]] = [
        ("POST", lambda: client.restart_cluster(css.RestartClusterRequest(cluster_id=cid))),
        ("GET", lambda: client.show_cluster_detail(css.ShowClusterDetailRequest(cluster_id=cid))),
        ("DELETE", lambda: client.delete_cluster(css.DeleteClusterRequest(cluster_id=cid))),
    ]
    for method, call in calls:
        with pytest.raises(expected_exception(status)) as info:
            call()
        e = info.value
        sent = pack.journal.entries()[-1]
        assert (sent.method, sent.status, sent.reason) == (method, status, CATALOGUE[status].phrase)
        if status == 429 and method != "POST":
            # the 429 trap: urllib3 turns it into a RetryError; body and X-Request-Id are lost
            assert (e.status_code, e.error_code, e.request_id) == (429, "429", "")
            continue
        assert (e.status_code, e.error_code, e.error_msg, e.request_id) == (
            status, error_code(status), CATALOGUE[status].summary, sent.request_id)


@pytest.mark.parametrize("status", [413, 503])
def test_retry_after_statuses_are_retried_on_get_then_raised(pack: MockServer, status: int) -> None:
    started = time.monotonic()
    with pytest.raises(expected_exception(status)) as info:
        build_client(pack, retry_times=1).show_cluster_detail(
            css.ShowClusterDetailRequest(cluster_id=f"status-{status}"))
    attempts = pack.journal.entries()
    assert [a.status for a in attempts] == [status, status]
    assert 0.9 <= time.monotonic() - started < 2.0  # Retry-After: 1, waited once
    assert (info.value.error_code, info.value.request_id) == (error_code(status), attempts[-1].request_id)
