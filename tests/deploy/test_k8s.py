"""deploy/k8s: every manifest against the Kubernetes API's schemas (kubernetes-validate, offline,
strict: an unknown or misspelt field fails), then what the schemas cannot say: selectors that
select, probes and ports that agree, settings that mockserver accepts, the image of this repository."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from mockserver.config import SETTINGS, ServerConfig
from tests.conftest import ROOT

K8S = ROOT / "deploy" / "k8s"
VERSION = "1.30.0"  # an API version well inside every supported cluster's range


def manifests() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{path.name}#{i}", doc) for path in sorted(K8S.glob("*.yaml"))
            for i, doc in enumerate(yaml.safe_load_all(path.read_text())) if doc is not None]


ALL = manifests()
BY_KIND: dict[tuple[str, str], dict[str, Any]] = {(d["kind"], d["metadata"]["name"]): d for _, d in ALL}


@pytest.mark.parametrize(("where", "doc"), ALL, ids=[w for w, _ in ALL])
def test_each_manifest_is_valid_for_the_kubernetes_api(where: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_the_manifests_are_a_deployment_and_service_each_for_mockserver_and_redis() -> None:
    assert sorted(BY_KIND) == [("Deployment", "mockserver"), ("Deployment", "mockserver-redis"),
                               ("Service", "mockserver"), ("Service", "redis")]
    assert BY_KIND[("Deployment", "mockserver")]["spec"]["replicas"] >= 2
    assert BY_KIND[("Deployment", "mockserver-redis")]["spec"]["replicas"] == 1  # the one state


def _pod(deployment: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    return template["metadata"]["labels"], container


@pytest.mark.parametrize(("deployment", "service"),
                         [("mockserver", "mockserver"), ("mockserver-redis", "redis")])
def test_selectors_select_and_ports_agree(deployment: str, service: str) -> None:
    dep, svc = BY_KIND[("Deployment", deployment)], BY_KIND[("Service", service)]
    labels, container = _pod(dep)
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items()
    names = {p["name"]: p["containerPort"] for p in container["ports"]}
    for port in svc["spec"]["ports"]:
        assert port["targetPort"] in names, (service, port)
    for probe in ("readinessProbe", "livenessProbe"):
        spec = container[probe]
        handler = spec.get("httpGet") or spec.get("tcpSocket")
        if handler is not None:
            assert handler["port"] in names, (deployment, probe)


def test_mockserver_probes_its_health_endpoint_without_a_token() -> None:
    _, container = _pod(BY_KIND[("Deployment", "mockserver")])
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/__mock/health"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MOCKSERVER_PUBLIC_HEALTH"] == "1"
    # every variable is one mockserver reads, with a value it accepts (as `serve` would check it)
    known = {s.env for s in SETTINGS.values()}
    assert set(env) <= known, set(env) - known
    config = ServerConfig.from_env(env)
    assert config.state == "redis://redis:6379/0"
    assert container["ports"][0]["containerPort"] == 8080  # the image's MOCKSERVER_PORT


def test_the_state_url_names_the_redis_service() -> None:
    _, container = _pod(BY_KIND[("Deployment", "mockserver")])
    env = {e["name"]: e["value"] for e in container["env"]}
    found = re.fullmatch(r"redis://([\w-]+):(\d+)/\d+", env["MOCKSERVER_STATE"])
    assert found is not None
    svc = BY_KIND[("Service", found.group(1))]
    assert int(found.group(2)) in {p["port"] for p in svc["spec"]["ports"]}


def test_the_images_are_built_from_this_repository() -> None:
    stages = re.findall(r"^FROM \S+(?: AS (\w+))?$", (ROOT / "Dockerfile").read_text(), re.M)
    assert "redis" in stages  # `podman build --target redis -t mockserver-redis .`
    assert _pod(BY_KIND[("Deployment", "mockserver")])[1]["image"] == "mockserver:latest"
    redis = _pod(BY_KIND[("Deployment", "mockserver-redis")])[1]
    assert redis["image"] == "mockserver-redis:latest"
    assert redis["command"][0] == "redis-server" and "--save" in redis["command"]


def test_a_misspelt_field_is_caught(tmp_path: Path) -> None:
    """The strict schema check is a real one: the same Deployment with a typo fails it."""
    doc = yaml.safe_load_all((K8S / "mockserver.yaml").read_text()).__next__()
    doc["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = doc["spec"]["template"]["spec"][
        "containers"][0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(doc, VERSION, strict=True)
