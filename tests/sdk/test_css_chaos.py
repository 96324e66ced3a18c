"""The CSS chaos overlays (scenarios/css/chaos) against the real SDK's retry layers.

Two layers retry in the SDK (real-clients.md 1.9): HttpConfig.retry_times is urllib3's Retry
(idempotent methods; 429 always; 503 and 413 only with Retry-After, which it waits for), and
``<op>_invoker(req).with_retry(...)`` re-signs and retries on the SdkExceptions you choose,
with its own backoff and no regard for Retry-After. The journal shows every attempt and when.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions import exceptions as sdk_exc
from huaweicloudsdkcore.retry.backoff_strategy import BackoffStrategies

from mockserver import MockServer
from mockserver.journal import Entry
from tests.integration.test_builtin_scenarios import exercises
from tests.sdk.css_sdk import CHAOS, PACK, SEED_IDS, build_client, create_body, created_id, css, entries_for

pytestmark = pytest.mark.timeout(30)
ES_LOGS = SEED_IDS["es-logs"]


@pytest.fixture
def chaos(request: pytest.FixtureRequest) -> Iterator[MockServer]:
    """The pack plus the overlay named by the test's ``overlay`` parameter."""
    with MockServer([PACK, CHAOS / request.param], port=0) as server:
        yield server


def gaps(entries: list[Entry]) -> list[float]:
    return [round(b.arrived - a.arrived, 2) for a, b in itertools.pairwise(entries)]


def show(client: Any, cluster_id: str = ES_LOGS) -> Any:
    return client.show_cluster_detail(css.ShowClusterDetailRequest(cluster_id=cluster_id))


def on(*exceptions: type[Exception], status: int | None = None) -> Any:
    def condition(resp: Any, exc: Any) -> bool:
        return isinstance(exc, exceptions) and (status is None or exc.status_code == status)
    return condition


# --- throttled: 429 + Retry-After: 1, twice per distinct call -----------------------------------

@exercises("css/chaos/throttled.yaml")
@pytest.mark.parametrize("chaos", ["throttled.yaml"], indirect=True)
def test_throttled_get_waits_for_retry_after(chaos: MockServer) -> None:
    started = time.monotonic()
    detail = show(build_client(chaos, retry_times=3))
    elapsed = time.monotonic() - started
    assert detail.name == "es-logs"
    attempts = chaos.journal.entries()
    assert [e.status for e in attempts] == [429, 429, 200]
    assert all(0.9 <= g <= 1.6 for g in gaps(attempts)), gaps(attempts)
    assert 1.9 <= elapsed <= 3.5
    # urllib3 re-sends the very same signed request: same X-Sdk-Date and Authorization
    assert len({e.headers["Authorization"] for e in attempts}) == 1


@pytest.mark.parametrize("chaos", ["throttled.yaml"], indirect=True)
@pytest.mark.parametrize("retry_times", [0, 1])
def test_throttled_get_falls_into_the_429_trap(chaos: MockServer, retry_times: int) -> None:
    """A 429 on GET/PUT/DELETE loses the Huawei body and X-Request-Id (real-clients.md 1.7)."""
    with pytest.raises(sdk_exc.ClientRequestException) as info:
        show(build_client(chaos, retry_times=retry_times))
    e = info.value
    assert (e.status_code, e.error_code, e.request_id) == (429, "429", "")
    assert "too many 429 error responses" in e.error_msg
    attempts = chaos.journal.entries()
    assert len(attempts) == retry_times + 1 and all(a.status == 429 for a in attempts)
    assert all(a.request_id for a in attempts)  # we sent them; the SDK dropped them


@pytest.mark.parametrize("chaos", ["throttled.yaml"], indirect=True)
def test_throttled_post_keeps_the_body_and_invoker_retry_ignores_retry_after(chaos: MockServer) -> None:
    client = build_client(chaos, retry_times=3)  # urllib3 does not retry POST
    with pytest.raises(sdk_exc.ClientRequestException) as info:
        client.restart_cluster(css.RestartClusterRequest(cluster_id=ES_LOGS))
    e = info.value
    first = chaos.journal.entries()[-1]
    assert (e.status_code, e.error_code, e.request_id) == (429, "APIGW.0308", first.request_id)
    assert e.error_msg == "The throttling threshold has been reached."
    chaos.reset()
    started = time.monotonic()
    resp = (client.restart_cluster_invoker(css.RestartClusterRequest(cluster_id=ES_LOGS))
            .with_retry(retry_condition=on(sdk_exc.ClientRequestException, status=429), max_retries=2,
                        backoff_strategy=BackoffStrategies.NONE)
            .invoke())
    assert resp.status_code == 200
    assert [a.status for a in chaos.journal.entries()] == [429, 429, 200]
    assert time.monotonic() - started < 0.9  # Retry-After: 1 was not waited for


# --- flaky create: 503 + Retry-After twice, then the pack creates ----------------------------------

@exercises("css/chaos/flaky-create.yaml")
@pytest.mark.parametrize("chaos", ["flaky-create.yaml"], indirect=True)
def test_flaky_create_succeeds_with_invoker_retry(chaos: MockServer) -> None:
    client = build_client(chaos)
    started = time.monotonic()
    resp = (client.create_cluster_invoker(create_body("es-flaky"))
            .with_retry(retry_condition=on(sdk_exc.ServerResponseException), max_retries=3,
                        backoff_strategy=BackoffStrategies.EQUAL_JITTER)
            .invoke())
    elapsed = time.monotonic() - started
    attempts = entries_for(chaos, "POST", "/clusters")
    assert [a.status for a in attempts] == [503, 503, 200]
    assert [a.rule for a in attempts] == ["css-flaky-create/create-unavailable"] * 2 + ["css/create-cluster"]
    assert resp.cluster.id == created_id(attempts[-1]) and resp.cluster.name == "es-flaky"
    assert [a.decisions for a in attempts[:2]] == [(), ()]  # refused attempts created nothing
    assert elapsed < 0.9  # equal jitter from 10 ms: tens of milliseconds, Retry-After ignored
    assert show(client, resp.cluster.id).status == "100"
    chaos.advance(2)
    assert show(client, resp.cluster.id).status == "200"
    listed = client.list_clusters_details(css.ListClustersDetailsRequest()).clusters
    assert [c.name for c in listed] == ["es-flaky", "es-logs", "es-search", "os-metrics"]


@pytest.mark.parametrize("chaos", ["flaky-create.yaml"], indirect=True)
def test_flaky_create_is_not_retried_by_retry_times(chaos: MockServer) -> None:
    client = build_client(chaos, retry_times=3)
    with pytest.raises(sdk_exc.ServerResponseException) as info:
        client.create_cluster(create_body())
    e = info.value
    (attempt,) = chaos.journal.entries()
    assert (e.status_code, e.error_code, e.request_id) == (503, "CSS.0503", attempt.request_id)
    chaos.reset()
    with pytest.raises(sdk_exc.ServerResponseException):
        (client.create_cluster_invoker(create_body())
         .with_retry(retry_condition=on(sdk_exc.ServerResponseException), max_retries=1,
                     backoff_strategy=BackoffStrategies.NONE)
         .invoke())
    assert [a.status for a in chaos.journal.entries()] == [503, 503]  # max_retries=1: two attempts
    assert client.create_cluster(create_body()).cluster.id == created_id(chaos.journal.entries()[-1])


# --- flaky reads: every distinct GET answers 503 + Retry-After twice --------------------------------

@exercises("css/chaos/flaky-reads.yaml")
@pytest.mark.parametrize("chaos", ["flaky-reads.yaml"], indirect=True)
def test_flaky_reads_are_hidden_by_retry_times(chaos: MockServer) -> None:
    client = build_client(chaos, retry_times=3)
    started = time.monotonic()
    resp = client.list_clusters_details(css.ListClustersDetailsRequest(limit=2))
    assert [c.name for c in resp.clusters] == ["es-logs", "es-search"]
    assert 1.9 <= time.monotonic() - started <= 3.5
    attempts = chaos.journal.entries()
    assert [a.status for a in attempts] == [503, 503, 200]
    assert all(0.9 <= g <= 1.6 for g in gaps(attempts)), gaps(attempts)
    # another query is another distinct read: it is refused twice again
    chaos.journal.clear()
    client.list_clusters_details(css.ListClustersDetailsRequest(limit=1))
    assert [a.status for a in chaos.journal.entries()] == [503, 503, 200]


@pytest.mark.parametrize("chaos", ["flaky-reads.yaml"], indirect=True)
@pytest.mark.parametrize("retry_times", [0, 1])
def test_flaky_reads_surface_as_server_response_exception(chaos: MockServer, retry_times: int) -> None:
    with pytest.raises(sdk_exc.ServerResponseException) as info:
        show(build_client(chaos, retry_times=retry_times))
    e = info.value
    attempts = chaos.journal.entries()
    assert len(attempts) == retry_times + 1  # unlike 429, the last 503 reaches the SDK intact
    assert (e.status_code, e.error_code, e.request_id) == (503, "CSS.0503", attempts[-1].request_id)


@pytest.mark.parametrize("chaos", ["flaky-reads.yaml"], indirect=True)
def test_flaky_reads_with_invoker_retry_do_not_wait(chaos: MockServer) -> None:
    client = build_client(chaos)
    started = time.monotonic()
    resp = (client.show_cluster_detail_invoker(css.ShowClusterDetailRequest(cluster_id=ES_LOGS))
            .with_retry(retry_condition=on(sdk_exc.ServerResponseException), max_retries=2,
                        backoff_strategy=BackoffStrategies.NONE)
            .invoke())
    assert resp.name == "es-logs" and time.monotonic() - started < 0.9
    assert [a.status for a in chaos.journal.entries()] == [503, 503, 200]


# --- timeout: create and restart take 2 s; a Timeout header below that gets 504 ---------------------

@exercises("css/chaos/timeout.yaml")
@pytest.mark.parametrize("chaos", ["timeout.yaml"], indirect=True)
def test_timeout_header_gets_504_server_timeout(chaos: MockServer) -> None:
    client = build_client(chaos)
    started = time.monotonic()
    with pytest.raises(sdk_exc.ServerResponseException) as info:
        client.create_cluster_invoker(create_body()).add_header("Timeout", "1").invoke()
    elapsed = time.monotonic() - started
    e = info.value
    (attempt,) = chaos.journal.entries()
    assert (e.status_code, e.error_code, e.request_id) == (504, "CSS.0504", attempt.request_id)
    assert (attempt.reason, attempt.outcome) == ("ServerTimeout", "timed_out")
    assert attempt.headers["Timeout"] == "1"
    assert "timeout" in attempt.headers["Authorization"]  # the SDK signed the added header
    assert 0.9 <= elapsed < 1.8
    # the server went on without the client: the cluster exists under the journaled id
    assert show(client, created_id(attempt)).status == "100"


@pytest.mark.parametrize("chaos", ["timeout.yaml"], indirect=True)
def test_without_timeout_the_slow_answer_arrives(chaos: MockServer) -> None:
    client = build_client(chaos)
    started = time.monotonic()
    resp = client.restart_cluster(css.RestartClusterRequest(cluster_id=ES_LOGS))
    assert resp.status_code == 200 and 1.9 <= time.monotonic() - started < 3.5
    started = time.monotonic()
    resp = (client.create_cluster_invoker(create_body("es-slow")).add_header("Timeout", "5").invoke())
    assert resp.cluster.name == "es-slow" and 1.9 <= time.monotonic() - started < 3.5
    assert [e.rule for e in chaos.journal.entries()] == ["css-timeout/restart-cluster-slow",
                                                         "css-timeout/create-slow"]


@pytest.mark.parametrize("chaos", ["timeout.yaml"], indirect=True)
def test_timeout_overlay_keeps_404_for_unknown_clusters(chaos: MockServer) -> None:
    client = build_client(chaos)
    started = time.monotonic()
    with pytest.raises(sdk_exc.ClientRequestException) as info:
        (client.restart_cluster_invoker(css.RestartClusterRequest(cluster_id="nope"))
         .add_header("Timeout", "1").invoke())
    assert (info.value.status_code, info.value.error_code) == (404, "CSS.0015")
    assert time.monotonic() - started < 0.9


# --- outage: a timeline overlay over the pack ----------------------------------------------------

@exercises("css/chaos/outage.yaml")
@pytest.mark.parametrize("chaos", ["outage.yaml"], indirect=True)
def test_outage_timeline_through_the_sdk(chaos: MockServer) -> None:
    client = build_client(chaos)
    assert show(client).name == "es-logs"
    chaos.clock.advance(40)  # 50 s of outage left
    with pytest.raises(sdk_exc.ServerResponseException) as info:
        show(client)
    assert (info.value.status_code, info.value.error_code) == (503, "CSS.0503")
    assert chaos.journal.entries()[-1].decisions[0].startswith("timeline: phase 1 (30s-90s)")
    with pytest.raises(sdk_exc.ServerResponseException):  # a refused delete deletes nothing...
        client.delete_cluster(css.DeleteClusterRequest(cluster_id=ES_LOGS))
    chaos.clock.advance(90)  # recovered
    assert show(client).name == "es-logs"  # ...so the cluster is still there
    statuses = [e.status for e in chaos.journal.entries()]
    assert statuses == [200, 503, 503, 200]


# --- rate-limited: a token bucket overlay over the pack ------------------------------------------

@exercises("css/chaos/rate-limited.yaml")
@pytest.mark.parametrize("chaos", ["rate-limited.yaml"], indirect=True)
def test_rate_limited_sdk_waits_for_retry_after(chaos: MockServer) -> None:
    patient = build_client(chaos, retry_times=3)
    started = time.monotonic()
    for _ in range(4):  # burst 3, then one refusal that urllib3 waits out
        assert show(patient).name == "es-logs"
    assert time.monotonic() - started >= 0.9
    refused = [e for e in chaos.journal.entries() if e.status == 429]
    assert len(refused) == 1 and refused[0].decisions[0].startswith("rate_limit: bucket")
