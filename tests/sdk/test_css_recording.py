"""The Huawei SDK through a recording of the CSS pack: the pack plays the real API, `mockserver
record` sits between, then the recording alone answers the same SDK calls the same way."""

from __future__ import annotations

import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from huaweicloudsdkcore.exceptions import exceptions as sdk_exc

from mockserver import MockServer
from mockserver.scenario import load_paths
from tests.record.live import leaks, mockserver_process, stop, written
from tests.sdk.css_sdk import AK, PACK, SEED_IDS, SK, build_client, css


def calls(url: str) -> list[Any]:
    """What an application does with the SDK: lists, details, errors, a delete and its 404."""
    client = build_client(cast(MockServer, SimpleNamespace(url=url)))
    seen: list[Any] = []

    def call(make: Any) -> None:
        try:
            seen.append(make().to_json_object())
        except sdk_exc.ClientRequestException as exc:
            seen.append((exc.status_code, exc.error_code, exc.error_msg))

    call(lambda: client.list_clusters_details(css.ListClustersDetailsRequest()))
    call(lambda: client.list_clusters_details(css.ListClustersDetailsRequest(limit=1)))
    call(lambda: client.list_clusters_details(css.ListClustersDetailsRequest(datastore_type="opensearch")))
    call(lambda: client.list_clusters_details(css.ListClustersDetailsRequest(datastore_type="solr")))
    for cluster_id in SEED_IDS.values():
        call(lambda c=cluster_id: client.show_cluster_detail(css.ShowClusterDetailRequest(cluster_id=c)))
    call(lambda: client.show_cluster_detail(css.ShowClusterDetailRequest(cluster_id="no-such-cluster")))
    gone = SEED_IDS["es-search"]
    call(lambda: client.delete_cluster(css.DeleteClusterRequest(cluster_id=gone)))
    call(lambda: client.show_cluster_detail(css.ShowClusterDetailRequest(cluster_id=gone)))
    return seen


def test_sdk_record_the_pack_then_replay_it_alone(tmp_path: Path) -> None:
    out = tmp_path / "css-recorded.yaml"
    # the "real" API: the pack as shipped (conftest unsets its signature variables)
    with MockServer([PACK]) as pack, mockserver_process(
            "record", "--target", pack.url, "--out", str(out), "--port", "0", "--quiet") as (proc, url, _):
        recorded = calls(url)
        journal = pack.journal.entries()
        stop(proc, signal.SIGTERM)
    # the pack answered for real: two errors, one delete, then the deleted cluster's 404
    assert recorded[3] == (400, "CSS.0001", "Invalid datastoreType: expected elasticsearch, opensearch "
                                            "or logstash.")
    assert recorded[7] == recorded[9] == (404, "CSS.0015", "No resources are found or the access is denied.")
    assert recorded[5]["id"] == SEED_IDS["es-search"] and len(recorded[0]["clusters"]) == 3
    assert len(journal) == 10 and all(e.headers["Authorization"].startswith("SDK-HMAC-SHA256 ")
                                      for e in journal)
    signature = journal[0].headers["Authorization"].rpartition("Signature=")[2]
    assert leaks([AK, SK, signature], written(tmp_path)) == []
    # the pack is stopped: the recording alone answers
    scenario = load_paths([out])[0]
    assert scenario.name == "css-recorded"
    with MockServer([out]) as replay:
        assert calls(replay.url) == recorded
        assert {e.outcome for e in replay.journal.entries()} == {"answered"}
    assert "path: /v1.0/{project_id}/clusters/{cluster_id}\n" in out.read_text()  # ids folded
