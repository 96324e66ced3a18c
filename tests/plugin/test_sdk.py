"""The Huawei Cloud SDK (sync, urllib3 underneath) under the mockserver fixture and its assertions."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def test_sdk_retry_times_honours_retry_after(tester: pytest.Pytester, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """HttpConfig.retry_times=3 retries a 503 that carries Retry-After, after waiting for it."""
    monkeypatch.setenv("HOME", str(tmp_path))  # the SDK writes ~/.huaweicloud/application_id
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    tester.makepyfile("""
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcss.v1 import CssClient, ListClustersDetailsRequest

PROJECT = "0123456789abcdef0123456789abcdef"
BUSY_ONCE = {"name": "css", "rules": [{
    "name": "list", "match": {"method": "GET", "path": "/v1.0/{project_id}/clusters"},
    "respond": [{"status": 503, "headers": {"Retry-After": "1"}},
                {"status": 200, "json": {"totalSize": 0, "clusters": []}}]}]}

@pytest.mark.mockserver(scenario=BUSY_ONCE, strict=True)
def test_list_clusters_after_one_503(mockserver):
    config = HttpConfig.get_default_config()
    config.timeout = (2, 5)
    config.retry_times = 3
    client = (CssClient.new_builder().with_http_config(config)
              .with_credentials(BasicCredentials("MOCKAK", "mock-secret", PROJECT))
              .with_endpoints([mockserver.url]).build())
    response = client.list_clusters_details(ListClustersDetailsRequest(limit=10))
    assert response.total_size == 0
    [first, second] = mockserver.assert_called("list", times=2)
    assert first.headers["X-Project-Id"] == PROJECT
    assert first.headers["Authorization"].startswith("SDK-HMAC-SHA256 Access=MOCKAK")
    mockserver.assert_retry_after_honoured("list")
    mockserver.assert_no_request_after(status=200)
""")
    tester.runpytest("-W", "ignore::DeprecationWarning").assert_outcomes(passed=1)
