"""The control API's OpenAPI document is valid, complete, and true: schemathesis finds no 500s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.openapi import from_dict

from mockserver import MockServer
from mockserver.control.api import openapi_document

HELLO = {"name": "hello", "rules": [{"name": "hi", "match": {"path": "/hi"}, "respond": {"body": "hi"}}]}
TOKEN = "openapi-token"


@pytest.mark.parametrize(("secured", "public_health"), [(False, False), (True, False), (True, True)])
def test_document_is_valid_openapi_3_1(secured: bool, public_health: bool) -> None:
    doc = openapi_document(secured=secured, public_health=public_health)
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    health = doc["paths"]["/__mock/health"]["get"]
    assert ("401" in health["responses"]) == (secured and not public_health)


def test_document_describes_every_route_and_nothing_else() -> None:
    server = MockServer(HELLO)
    doc = openapi_document(secured=False, public_health=False)
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    served = {(r.method, "/__mock" + r.path) for r in server.control_api()[0].routes}
    assert documented == served


def test_served_document_follows_the_configuration() -> None:
    with MockServer(HELLO, admin_token=TOKEN) as server:
        doc = requests.get(server.url_for("/__mock/openapi.json"), timeout=5,
                           headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert doc["security"] == [{"bearer": []}]
    validate(doc)


@pytest.fixture(scope="module")
def target() -> Iterator[MockServer]:
    with MockServer(HELLO, admin_token=TOKEN) as server:
        yield server


def operations() -> list[str]:
    doc = openapi_document(secured=True, public_health=False)
    return [f"{method.upper()} {path}" for path, item in doc["paths"].items() for method in item]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("operation", operations())
def test_schemathesis_finds_no_server_errors(target: MockServer, operation: str) -> None:
    """Generated calls (valid by the document) never get a 500, and answers match the document.

    Semantically invalid scenarios are rejected with 422 by design (the document gives a scenario's
    outline; `mockserver schema` has the whole format), so positive_data_acceptance is left out.
    """
    auth = {"Authorization": f"Bearer {TOKEN}"}
    doc = requests.get(target.url_for("/__mock/openapi.json"), headers=auth, timeout=5).json()
    method, path = operation.split(" ")
    op = next(r.ok() for r in from_dict(doc).get_all_operations()
              if r.ok().method.upper() == method and r.ok().path == path)

    @given(case=op.as_strategy())
    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=target.url, headers=auth, timeout=10)
        assert response.status_code < 500, (case.method, case.path, response.text)
        case.validate_response(response, headers=auth,
                               excluded_checks=[schemathesis.checks.positive_data_acceptance])

    check()
    target.reset()
    target.replace(HELLO)
    for fault in target.list_faults():
        target.remove_fault(fault["name"])
