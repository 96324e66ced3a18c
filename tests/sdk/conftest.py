"""Fixtures for the SDK tests: a private HOME, no cloud credentials in sight, the CSS pack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mockserver import MockServer
from tests.sdk.css_sdk import PACK

# variables that could send the SDK (or requests) anywhere but 127.0.0.1
_CLOUD_ENV = ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_PROJECT_ID",
              "HUAWEICLOUD_SDK_CREDENTIALS_FILE", "HUAWEICLOUD_SDK_REGIONS_FILE",
              "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
              "MOCKSERVER_CSS_AK", "MOCKSERVER_CSS_SK")


@pytest.fixture(autouse=True)
def sdk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The SDK writes ~/.huaweicloud/application_id: keep it in a temporary HOME."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in _CLOUD_ENV:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def pack_server() -> Iterator[MockServer]:
    """The CSS pack as shipped, signature check off (its variables unset at load time)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MOCKSERVER_CSS_AK", raising=False)
        patch.delenv("MOCKSERVER_CSS_SK", raising=False)
        server = MockServer([PACK], port=0)
    with server:
        yield server


@pytest.fixture
def pack(pack_server: MockServer) -> MockServer:
    pack_server.reset()
    return pack_server
