"""Helpers for driving the CSS pack with the real Huawei Cloud SDK, on loopback only.

Clients are always built with explicit BasicCredentials and an explicit http://127.0.0.1
endpoint: without credentials the SDK would try the cloud metadata address.
"""

from __future__ import annotations

import warnings
from typing import Any

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcss import v1 as css

from mockserver import MockServer
from mockserver.journal import Entry
from mockserver.scenario import BUILTIN_DIR

__all__ = ["AK", "CHAOS", "PACK", "PROJECT", "SEED_IDS", "SK", "build_client", "create_body",
           "created_id", "css", "entries_for"]

PACK = BUILTIN_DIR / "css"
CHAOS = PACK / "chaos"
PROJECT = "0123456789abcdef0123456789abcdef"
AK = "MOCKAKEXAMPLE0000000"
SK = "mock-secret-key"
SEED_IDS = {
    "es-logs": "c0ffee00-0000-4000-8000-000000000001",
    "es-search": "c0ffee00-0000-4000-8000-000000000002",
    "os-metrics": "c0ffee00-0000-4000-8000-000000000003",
}


def build_client(server: MockServer, *, sk: str = SK, retry_times: int = 0,
                 timeout: tuple[float, float] = (2, 5)) -> Any:
    """A CssClient on the mock: explicit credentials and endpoint, small timeouts."""
    config = HttpConfig.get_default_config()
    config.timeout = timeout
    config.retry_times = retry_times
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return (css.CssClient.new_builder().with_http_config(config)
                .with_credentials(BasicCredentials(AK, sk, PROJECT))
                .with_endpoints([server.url]).build())


def create_body(name: str = "es-new", datastore: str = "elasticsearch") -> Any:
    """The CreateClusterRequest the SDK documentation shows, for one small cluster."""
    return css.CreateClusterRequest(body=css.CreateClusterReq(cluster=css.CreateClusterBody(
        name=name, instance_num=1,
        instance=css.CreateClusterInstanceBody(
            flavor_ref="ess.spec-4u8g",
            volume=css.CreateClusterInstanceVolumeBody(volume_type="COMMON", size=40),
            nics=css.CreateClusterInstanceNicsBody(vpc_id="vpc-1", net_id="net-1",
                                                   security_group_id="sg-1")),
        datastore=css.CreateClusterDatastoreBody(version="7.10.2", type=datastore))))


def entries_for(server: MockServer, method: str, path_suffix: str) -> list[Entry]:
    """Journal entries of one operation, oldest first."""
    return [e for e in server.journal.entries()
            if e.method == method and e.path.endswith(path_suffix)]


def created_id(entry: Entry) -> str:
    """The id a create made, from the journal entry's decisions ("resource clusters: created <id>")."""
    found = [d.rsplit(" ", 1)[1] for d in entry.decisions if d.startswith("resource clusters: created ")]
    assert len(found) == 1, entry.decisions
    return found[0]
