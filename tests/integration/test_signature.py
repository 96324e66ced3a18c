"""The SDK-HMAC-SHA256 signature matcher, checked against the real Huawei Cloud SDK's signer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from mockserver import MockServer, RequestSnapshot
from mockserver.signature import SignatureMatcher, expand_env

css = pytest.importorskip("huaweicloudsdkcss.v1")
from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkcore.exceptions import exceptions as sdk_exc  # noqa: E402
from huaweicloudsdkcore.http.http_config import HttpConfig  # noqa: E402

PROJECT = "0123456789abcdef0123456789abcdef"
SCENARIO: dict[str, Any] = {
    "name": "signed",
    "rules": [
        {"name": "unsigned", "priority": 100,
         "match": {"signature": {"credentials": {"${T_AK}": "${T_SK}"}, "valid": False}},
         "respond": {"status": 401, "json": {"error_code": "APIGW.0301",
                                             "error_msg": "Incorrect IAM authentication information"}}},
        {"name": "list", "match": {"method": "GET", "path": "/v1.0/{project}/clusters"},
         "respond": {"json": {"totalSize": 0, "clusters": []}}},
    ],
}


@pytest.fixture
def client_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HOME", str(tmp_path))  # the SDK writes ~/.huaweicloud/application_id

    def build(url: str, sk: str) -> Any:
        config = HttpConfig.get_default_config()
        config.timeout = (2, 5)
        return (css.CssClient.new_builder().with_http_config(config)
                .with_credentials(BasicCredentials("MOCKAK", sk, PROJECT))
                .with_endpoints([url]).build())

    return build


def test_sdk_signature_is_verified(client_for: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_AK", "MOCKAK")
    monkeypatch.setenv("T_SK", "right-secret")
    with MockServer(SCENARIO) as server:
        good = client_for(server.url, "right-secret")
        resp = good.list_clusters_details(css.ListClustersDetailsRequest(limit=10, offset=1))
        assert resp.total_size == 0
        bad = client_for(server.url, "wrong-secret")
        with pytest.raises(sdk_exc.ClientRequestException) as info:
            bad.show_cluster_detail(css.ShowClusterDetailRequest(cluster_id="c1"))
        assert (info.value.status_code, info.value.error_code) == (401, "APIGW.0301")
        assert requests.get(server.url_for(f"/v1.0/{PROJECT}/clusters"), timeout=5).status_code == 401
        # a signed POST with a JSON body verifies too (the body hash is part of the signature)
        body = css.CreateClusterReq(cluster=css.CreateClusterBody(
            name="es-new", instance_num=1,
            instance=css.CreateClusterInstanceBody(
                flavor_ref="ess.spec-4u8g",
                volume=css.CreateClusterInstanceVolumeBody(volume_type="COMMON", size=40),
                nics=css.CreateClusterInstanceNicsBody(vpc_id="v", net_id="n", security_group_id="s")),
            datastore=css.CreateClusterDatastoreBody(version="7.10.2", type="elasticsearch")))
        with pytest.raises(sdk_exc.ClientRequestException) as info:  # no rule for create: 404, not 401
            good.create_cluster(css.CreateClusterRequest(body=body))
        assert info.value.status_code == 404
        assert [e.rule for e in server.journal.entries()] == ["signed/list", "signed/unsigned",
                                                             "signed/unsigned", None]


def test_check_is_off_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_AK", raising=False)
    with MockServer(SCENARIO) as server:
        assert requests.get(server.url_for("/v1.0/p/clusters"), timeout=5).status_code == 200


def test_env_expansion_and_matcher_modes() -> None:
    assert expand_env("${A}-${B}", {"A": "x", "B": "y"}) == "x-y"
    assert expand_env("${A}", {}) is None
    request = RequestSnapshot("GET", "/x", headers={"Authorization": "Basic abc"})
    assert SignatureMatcher({"ak": "sk"}, valid=True).problem(request) == (
        "signature: expected a valid SDK-HMAC-SHA256 signature, not an SDK-HMAC-SHA256 Authorization header")
    assert SignatureMatcher({"ak": "sk"}, valid=False).problem(request) is None
    assert SignatureMatcher({}, valid=True).problem(request) is None
