"""The CSS pack (scenarios/css) through the real Huawei Cloud SDK: every operation."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions as sdk_exc
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.region.region import Region

from mockserver import MockServer
from mockserver.scenario import load_text
from tests.conftest import ROOT
from tests.integration.test_builtin_scenarios import exercises
from tests.sdk.css_sdk import (
    AK,
    PACK,
    PROJECT,
    SEED_IDS,
    SK,
    build_client,
    create_body,
    created_id,
    css,
    entries_for,
)

CLUSTERS = f"/v1.0/{PROJECT}/clusters"
ES_LOGS, ES_SEARCH, OS_METRICS = SEED_IDS["es-logs"], SEED_IDS["es-search"], SEED_IDS["os-metrics"]


def show(client: Any, cluster_id: str) -> Any:
    return client.show_cluster_detail(css.ShowClusterDetailRequest(cluster_id=cluster_id))


def assert_css_error(info: pytest.ExceptionInfo[Any], server: MockServer, status: int, code: str,
                     msg: str) -> None:
    """The SDK exception carries what we sent: status, error_code, error_msg and X-Request-Id."""
    e = info.value
    assert (e.status_code, e.error_code, e.error_msg) == (status, code, msg)
    last = server.journal.entries()[-1]
    assert (last.status, e.request_id) == (status, last.request_id)
    assert e.request_id


LIST_CASES = [
    # (offset, limit, datastoreType) -> totalSize, names
    ((None, None, None), 3, ["es-logs", "es-search", "os-metrics"]),
    ((1, 10, None), 3, ["es-logs", "es-search", "os-metrics"]),
    ((None, 1, None), 3, ["es-logs"]),
    ((1, 2, None), 3, ["es-logs", "es-search"]),
    ((2, 1, None), 3, ["es-search"]),
    ((2, None, None), 3, ["es-search", "os-metrics"]),
    ((3, 10, None), 3, ["os-metrics"]),
    ((4, 10, None), 3, []),
    ((None, None, "elasticsearch"), 2, ["es-logs", "es-search"]),
    ((1, 1, "elasticsearch"), 2, ["es-logs"]),
    ((2, 10, "elasticsearch"), 2, ["es-search"]),
    ((3, 10, "elasticsearch"), 2, []),
    ((None, None, "opensearch"), 1, ["os-metrics"]),
    ((2, 10, "opensearch"), 1, []),
    ((None, None, "logstash"), 0, []),
]


@exercises("css/clusters.yaml")
@pytest.mark.parametrize(("query", "total", "names"), LIST_CASES, ids=[str(c[0]) for c in LIST_CASES])
def test_list_pages_and_filters(pack: MockServer, query: tuple[Any, Any, Any], total: int,
                                names: list[str]) -> None:
    offset, limit, datastore_type = query
    client = build_client(pack)
    resp = client.list_clusters_details(css.ListClustersDetailsRequest(
        offset=offset, limit=limit, datastore_type=datastore_type))
    assert resp.status_code == 200
    assert resp.total_size == total
    assert [c.name for c in resp.clusters] == names
    assert all(c.id == SEED_IDS[c.name] and c.status == "200" for c in resp.clusters)
    sent = dict(p.split("=") for p in pack.journal.entries()[-1].query_string.split("&") if p)
    assert sent == {k: str(v) for k, v in (("offset", offset), ("limit", limit),
                                          ("datastoreType", datastore_type)) if v is not None}


def test_list_answer_fills_the_sdk_models(pack: MockServer) -> None:
    resp = build_client(pack).list_clusters_details(css.ListClustersDetailsRequest())
    logs, _, metrics = resp.clusters
    assert (logs.datastore.type, logs.datastore.version) == ("elasticsearch", "7.10.2")
    assert [i.ip for i in logs.instances] == ["192.168.0.11", "192.168.0.12", "192.168.0.13"]
    assert (logs.instances[0].volume.type, logs.instances[0].volume.size) == ("HIGH", 100)
    assert logs.tags[0].key == "env" and logs.https_enable is True and logs.period is False
    assert metrics.datastore.type == "opensearch" and metrics.disk_encrypted is True
    # what the SDK dropped is still in raw_content: nothing unknown was sent
    raw = resp.to_json_object()
    assert set(raw) == {"totalSize", "clusters"}
    known = set(css.ClusterList.attribute_map.values())
    assert all(set(c) <= known for c in raw["clusters"])


def test_unknown_datastore_type_is_a_client_error(pack: MockServer) -> None:
    with pytest.raises(sdk_exc.ClientRequestException) as info:
        build_client(pack).list_clusters_details(css.ListClustersDetailsRequest(datastore_type="solr"))
    assert_css_error(info, pack, 400, "CSS.0001",
                     "Invalid datastoreType: expected elasticsearch, opensearch or logstash.")


def test_show_seed_clusters(pack: MockServer) -> None:
    client = build_client(pack)
    listed = {c.id: c for c in client.list_clusters_details(css.ListClustersDetailsRequest()).clusters}
    for name, cluster_id in SEED_IDS.items():
        detail = show(client, cluster_id)
        assert (detail.status_code, detail.id, detail.name, detail.status) == (200, cluster_id, name, "200")
        assert detail.support_vpcep is False
        assert detail.endpoint == listed[cluster_id].endpoint
        assert [i.id for i in detail.instances] == [i.id for i in listed[cluster_id].instances]
        known = set(css.ShowClusterDetailResponse.attribute_map.values())
        assert set(detail.to_json_object()) <= known


def test_unknown_cluster_is_404_css_0015_for_every_operation(pack: MockServer) -> None:
    client = build_client(pack)
    calls = [
        lambda: show(client, "no-such-cluster"),
        lambda: client.delete_cluster(css.DeleteClusterRequest(cluster_id="no-such-cluster")),
        lambda: client.restart_cluster(css.RestartClusterRequest(cluster_id="no-such-cluster")),
    ]
    for call in calls:
        with pytest.raises(sdk_exc.ClientRequestException) as info:
            call()
        assert_css_error(info, pack, 404, "CSS.0015", "No resources are found or the access is denied.")
    assert [e.rule for e in pack.journal.entries()] == [
        "css/show-cluster", "css/delete-cluster", "css/restart-cluster"]
    assert all(e.decisions == ("resource clusters: missing, clusters: no item no-such-cluster",)
               for e in pack.journal.entries())


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def create(client: Any, server: MockServer, name: str = "es-new") -> str:
    resp = client.create_cluster(create_body(name))
    assert (resp.status_code, resp.cluster.name) == (200, name)
    post = entries_for(server, "POST", "/clusters")[-1]
    assert UUID.match(resp.cluster.id) and resp.cluster.id == created_id(post)
    return str(resp.cluster.id)


def test_create_then_poll_until_available(pack: MockServer) -> None:
    """Real time: the pack's create-cluster says creating for 2 s (its lifecycle's after:)."""
    client = build_client(pack)
    started = time.monotonic()
    cluster_id = create(client, pack)
    statuses = []
    while time.monotonic() < started + 10:
        detail = show(client, cluster_id)
        statuses.append(detail.status)
        if detail.status == "200":
            break
        assert detail.actions == ["CREATING"] and detail.instances[0].status == "100"
        time.sleep(0.2)
    assert statuses[0] == "100" and statuses[-1] == "200" and set(statuses) == {"100", "200"}
    assert time.monotonic() - started >= 2.0  # not before its time
    assert detail.id == cluster_id and detail.actions == [] and detail.instances[0].status == "200"
    assert set(detail.to_json_object()) <= set(css.ShowClusterDetailResponse.attribute_map.values())
    assert show(client, cluster_id).status == "200"  # and stays available


def test_created_cluster_keeps_what_was_sent_and_is_listed_first(pack: MockServer) -> None:
    client = build_client(pack)
    cluster_id = create(client, pack, "es-kept")
    detail = show(client, cluster_id)
    assert (detail.name, detail.datastore.type, detail.datastore.version) == ("es-kept", "elasticsearch",
                                                                              "7.10.2")
    assert [(i.spec_code, i.volume.type, i.volume.size) for i in detail.instances] == [
        ("ess.spec-4u8g", "COMMON", 40)]
    assert (detail.vpc_id, detail.subnet_id, detail.security_group_id) == ("vpc-1", "net-1", "sg-1")
    listed = client.list_clusters_details(css.ListClustersDetailsRequest(offset=1, limit=2))
    assert listed.total_size == 4 and [c.name for c in listed.clusters] == ["es-kept", "es-logs"]
    assert [c.name for c in client.list_clusters_details(
        css.ListClustersDetailsRequest(offset=4, limit=2)).clusters] == ["os-metrics"]
    by_type = client.list_clusters_details(css.ListClustersDetailsRequest(datastore_type="opensearch"))
    assert [c.name for c in by_type.clusters] == ["os-metrics"]


def test_advancing_the_clock_makes_it_available_without_waiting(pack: MockServer) -> None:
    client = build_client(pack)
    first = create(client, pack, "es-a")
    pack.advance(1.5)
    second = create(client, pack, "es-b")
    assert first != second
    assert (show(client, first).status, show(client, second).status) == ("100", "100")
    pack.advance(0.5)  # first: 2 s old, second: 0.5 s
    assert (show(client, first).status, show(client, second).status) == ("200", "100")
    requests.post(pack.url_for("/__mock/clock/advance"), json={"seconds": 30}, timeout=5).raise_for_status()
    assert show(client, second).status == "200"


def test_create_without_datastore_is_refused(pack: MockServer) -> None:
    r = requests.post(pack.url_for(CLUSTERS), json={"cluster": {"name": "x"}}, timeout=5)
    assert r.status_code == 400 and r.json()["error_code"] == "CSS.0001"
    assert r.headers["X-Request-Id"] == pack.journal.entries()[-1].request_id


@pytest.mark.parametrize("created", [False, True], ids=["seed", "created"])
def test_delete_then_404(pack: MockServer, created: bool) -> None:
    client = build_client(pack)
    cluster_id = create(client, pack) if created else ES_SEARCH
    assert show(client, cluster_id).id == cluster_id
    resp = client.delete_cluster(css.DeleteClusterRequest(cluster_id=cluster_id))
    assert resp.status_code == 200
    assert pack.journal.entries()[-1].decisions == (f"resource clusters: deleted {cluster_id}",)
    for call in (lambda: show(client, cluster_id),
                 lambda: client.delete_cluster(css.DeleteClusterRequest(cluster_id=cluster_id)),
                 lambda: client.restart_cluster(css.RestartClusterRequest(cluster_id=cluster_id))):
        with pytest.raises(sdk_exc.ClientRequestException) as info:
            call()
        assert_css_error(info, pack, 404, "CSS.0015", "No resources are found or the access is denied.")
    listed = client.list_clusters_details(css.ListClustersDetailsRequest())
    assert cluster_id not in [c.id for c in listed.clusters] and listed.total_size == 3 - (not created)
    # the other seed clusters are untouched
    assert show(client, ES_LOGS).status == "200"


def test_restart_shows_rebooting_then_clears(pack: MockServer) -> None:
    client = build_client(pack)
    cluster_id = create(client, pack)
    for target in (ES_LOGS, OS_METRICS, cluster_id):
        resp = client.restart_cluster(css.RestartClusterRequest(cluster_id=target))
        assert resp.status_code == 200
    assert [e.rule for e in entries_for(pack, "POST", "/restart")] == ["css/restart-cluster"] * 3
    assert show(client, ES_LOGS).actions == ["REBOOTING"]
    assert show(client, cluster_id).actions == ["REBOOTING"]  # the create's own lifecycle runs too
    pack.advance(2)
    assert show(client, ES_LOGS).actions == [] and show(client, ES_SEARCH).actions == []
    assert (show(client, cluster_id).actions, show(client, cluster_id).status) == ([], "200")


def test_sessions_see_separate_worlds_and_reset_brings_back_the_seed(pack: MockServer) -> None:
    client = build_client(pack)
    cluster_id = create(client, pack, "es-mine")
    request = css.ListClustersDetailsRequest()
    theirs = client.list_clusters_details_invoker(request).add_header("X-Mock-Session", "b").invoke()
    assert [c.name for c in theirs.clusters] == ["es-logs", "es-search", "os-metrics"]
    (client.delete_cluster_invoker(css.DeleteClusterRequest(cluster_id=ES_LOGS))
     .add_header("X-Mock-Session", "b").invoke())
    mine = client.list_clusters_details(request)
    assert [c.name for c in mine.clusters] == ["es-mine", "es-logs", "es-search", "os-metrics"]
    pack.reset()
    assert [c.name for c in client.list_clusters_details(request).clusters] == [
        "es-logs", "es-search", "os-metrics"]
    with pytest.raises(sdk_exc.ClientRequestException):
        show(client, cluster_id)


def test_every_answer_has_x_request_id_and_the_sdk_headers_arrive(pack: MockServer) -> None:
    client = build_client(pack)
    client.list_clusters_details(css.ListClustersDetailsRequest(limit=1))
    with pytest.raises(sdk_exc.ClientRequestException):
        show(client, "nope")
    for path in (CLUSTERS, f"{CLUSTERS}/nope", "/v3/projects?name=x", "/nowhere"):
        r = requests.get(pack.url_for(path), timeout=5)
        assert r.headers["X-Request-Id"] == pack.journal.entries()[-1].request_id
    sdk_request = pack.journal.entries()[0]
    assert sdk_request.headers["X-Project-Id"] == PROJECT
    assert sdk_request.headers["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={AK}, ")


@exercises("css/iam.yaml")
def test_project_id_from_the_iam_stub(pack: MockServer) -> None:
    """No project_id: the SDK asks IAM (here the mock) for the region's project first."""
    config = HttpConfig.get_default_config()
    config.timeout = (2, 5)
    credentials = BasicCredentials(AK, SK).with_iam_endpoint(pack.url)
    client = (css.CssClient.new_builder().with_http_config(config).with_credentials(credentials)
              .with_region(Region("local-1", pack.url)).build())
    resp = client.list_clusters_details(css.ListClustersDetailsRequest(limit=1))
    assert [c.name for c in resp.clusters] == ["es-logs"]
    iam, listing = pack.journal.entries()
    assert (iam.path, iam.query_string, iam.rule) == ("/v3/projects", "name=local-1", "css-iam/iam-projects")
    assert listing.path == CLUSTERS and listing.headers["X-Project-Id"] == PROJECT


def test_signature_is_checked_when_credentials_are_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKSERVER_CSS_AK", AK)
    monkeypatch.setenv("MOCKSERVER_CSS_SK", SK)
    with MockServer([PACK], port=0) as server:
        good = build_client(server)
        assert good.show_cluster_detail(css.ShowClusterDetailRequest(cluster_id=ES_LOGS)).name == "es-logs"
        assert good.create_cluster(create_body()).cluster.name == "es-new"  # the body is signed too
        with pytest.raises(sdk_exc.ClientRequestException) as info:
            build_client(server, sk="wrong-secret").list_clusters_details(css.ListClustersDetailsRequest())
        assert_css_error(info, server, 401, "APIGW.0301", "Incorrect IAM authentication information")
        r = requests.get(server.url_for(f"{CLUSTERS}/{ES_LOGS}"), timeout=5)  # no Authorization
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"
        assert r.headers["X-Request-Id"] == server.journal.entries()[-1].request_id
        assert requests.get(server.url_for("/v3/projects?name=x"), timeout=5).status_code == 401
        assert [e.status for e in server.journal.entries()] == [200, 200, 401, 401, 401]


def test_signature_check_is_off_without_credentials(pack: MockServer) -> None:
    client = build_client(pack, sk="any-secret-works")
    assert client.show_cluster_detail(css.ShowClusterDetailRequest(cluster_id=ES_LOGS)).name == "es-logs"
    assert requests.get(pack.url_for(CLUSTERS), timeout=5).status_code == 200


def test_the_overlay_example_in_the_docs(pack: MockServer) -> None:
    """docs/css.md's own overlay: the first restart gets 409, later ones reach the pack."""
    text = (ROOT / "docs" / "css.md").read_text()
    example = next(m.group(1) for m in re.finditer(r"^```yaml\n(.*?)^```", text, re.S | re.M)
                   if m.group(1).startswith("name: css-restart-conflict"))
    pack.load(load_text(example, "docs/css.md"))
    try:
        client = build_client(pack)
        with pytest.raises(sdk_exc.ClientRequestException) as info:
            client.restart_cluster(css.RestartClusterRequest(cluster_id=ES_LOGS))
        assert_css_error(info, pack, 409, "CSS.0409", "The cluster is being restarted. Try again later.")
        assert client.restart_cluster(css.RestartClusterRequest(cluster_id=ES_LOGS)).status_code == 200
    finally:
        pack.remove("css-restart-conflict")


def test_a_whole_life_through_the_sdk(pack: MockServer) -> None:
    """List, create, poll (on the test clock), find it by paging, show, extend, rename, snapshot,
    restart, delete, and see it gone from show and list."""
    client = build_client(pack)
    assert client.list_clusters_details(css.ListClustersDetailsRequest()).total_size == 3
    cluster_id = create(client, pack, "es-life")
    assert show(client, cluster_id).status == "100"
    pack.advance(30)
    assert show(client, cluster_id).status == "200"
    found, offset = [], 1
    while offset < 10:
        page = client.list_clusters_details(css.ListClustersDetailsRequest(offset=offset, limit=1))
        found += [c.id for c in page.clusters]
        offset += 1
        if offset > page.total_size:
            break
    assert cluster_id in found and len(found) == 4
    client.update_extend_cluster(css.UpdateExtendClusterRequest(
        cluster_id=cluster_id, body=css.ExtendClusterReq(grow=css.ExtendClusterGrowReq(modify_size=2))))
    detail = show(client, cluster_id)
    assert (detail.actions, len(detail.instances)) == (["GROWING"], 1)
    pack.advance(2)
    detail = show(client, cluster_id)
    assert (detail.actions, len(detail.instances)) == ([], 3)
    assert all(i.status == "200" for i in detail.instances)
    client.update_cluster_name(css.UpdateClusterNameRequest(
        cluster_id=cluster_id, body=css.UpdateClusterNameReq(display_name="es-renamed")))
    assert show(client, cluster_id).name == "es-renamed"
    made = client.create_snapshot(css.CreateSnapshotRequest(
        cluster_id=cluster_id, body=css.CreateSnapshotReq(name="snap-1", indices="logs-*")))
    assert made.backup.name == "snap-1"
    backups = client.list_snapshots(css.ListSnapshotsRequest(cluster_id=cluster_id)).backups
    assert [(b.id, b.status, b.indices, b.cluster_id) for b in backups] == [
        (made.backup.id, "BUILDING", "logs-*", cluster_id)]
    assert client.list_snapshots(css.ListSnapshotsRequest(cluster_id=ES_LOGS)).backups == []
    pack.advance(2)
    assert client.list_snapshots(css.ListSnapshotsRequest(cluster_id=cluster_id)).backups[0].status == \
        "COMPLETED"
    client.delete_snapshot(css.DeleteSnapshotRequest(cluster_id=cluster_id, snapshot_id=made.backup.id))
    assert client.list_snapshots(css.ListSnapshotsRequest(cluster_id=cluster_id)).backups == []
    client.restart_cluster(css.RestartClusterRequest(cluster_id=cluster_id))
    assert show(client, cluster_id).actions == ["REBOOTING"]
    client.delete_cluster(css.DeleteClusterRequest(cluster_id=cluster_id))
    with pytest.raises(sdk_exc.ClientRequestException) as info:
        show(client, cluster_id)
    assert info.value.error_code == "CSS.0015"
    listed = client.list_clusters_details(css.ListClustersDetailsRequest())
    assert cluster_id not in [c.id for c in listed.clusters] and listed.total_size == 3


def test_flavors(pack: MockServer) -> None:
    versions = build_client(pack).list_flavors(css.ListFlavorsRequest()).versions
    assert [(v.version, [f.name for f in v.flavors]) for v in versions] == [
        ("7.10.2", ["ess.spec-2u8g", "ess.spec-4u8g", "ess.spec-4u16g"]), ("2.19.0", ["ess.spec-4u16g"])]
    assert versions[0].flavors[1].available_az == "cn-north-4a,cn-north-4b"
