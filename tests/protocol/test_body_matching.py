"""Form and raw-body matching, and templates, over the wire with real clients (requests, httpx, aiohttp)
and raw bytes where the encoding on the wire is the point."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
import requests

from mockserver import MockServer, load_scenario
from tests.conftest import raw_exchange

SCENARIO = {
    "name": "bodies",
    "seed": 11,
    "rules": [
        {"name": "login", "match": {"method": "POST", "path": "/login",
                                    "form": {"user": "ada", "scope": {"all": ["read", "write"]},
                                             "token": {"present": False}}},
         "respond": {"json": {"user": "{{ form.user }}", "scopes": "{{ form.getall('scope') }}"}}},
        {"name": "upload", "match": {"method": "POST", "path": "/upload",
                                     "form": {"file": {"contains": "PNG"}, "title": {"present": True}}},
         "respond": {"body": "got {{ form.title }}"}},
        {"name": "ping", "match": {"method": "POST", "path": "/raw", "body": {"regex": "^ping( |$)"}},
         "respond": {"body": "pong {{ body | length }}"}},
        {"name": "exact", "match": {"method": "PUT", "path": "/raw", "body": "exactly this"},
         "respond": {"status": 204}},
        {"name": "typed", "match": {"method": "POST", "path": "/orders/{id}"},
         "respond": {"status": 201, "headers": {"Location": "/orders/{{ path.id }}"},
                     "json": {"id": "{{ path.id }}", "n": "{{ json.qty * 2 }}", "items": "{{ json.items }}",
                              "big": "{{ json.qty > 2 }}", "none": "{{ json.nothing }}",
                              "label": "{{ json.qty }} x {{ json.items | join('+') }}",
                              "roll": "{{ random.int(1, 1000000) }}", "now": "{{ now }}"}}},
        {"name": "broken", "match": {"path": "/broken"},
         "respond": {"json": {"n": "{{ query.n + 1 }}"}}},
    ],
}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(SCENARIO) as s:
        yield s


def test_urlencoded_form_with_requests(server: MockServer) -> None:
    ok = requests.post(server.url + "/login", data=[("user", "ada"), ("scope", "write"), ("scope", "read")],
                       timeout=5)
    assert ok.status_code == 200
    assert ok.json() == {"user": "ada", "scopes": ["write", "read"]}
    refused = requests.post(server.url + "/login", timeout=5,
                            data={"user": "ada", "scope": ["read", "write"], "token": "t"})
    assert refused.status_code == 404
    assert refused.json()["near_misses"][0]["mismatches"] == ["form token: expected absent, got 't'"]


def test_multipart_form_with_httpx(server: MockServer) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        ok = client.post("/upload", data={"title": "logo"}, files={"file": ("a.png", b"\x89PNG\r\n\x1a\n")})
        assert (ok.status_code, ok.text) == (200, "got logo")
        miss = client.post("/upload", files={"file": ("a.png", b"GIF89a")})
        assert miss.status_code == 404
        assert miss.json()["near_misses"][0]["mismatches"] == [
            "form file: expected contains 'PNG', got 'GIF89a'",
            "form title: expected present, got absent (fields: file)"]


async def test_multipart_form_with_aiohttp(server: MockServer) -> None:
    form = aiohttp.FormData()
    form.add_field("user", "ada")
    form.add_field("scope", "read")
    form.add_field("scope", "write")
    form.add_field("attachment", b"bytes", filename="x.bin", content_type="application/octet-stream")
    async with aiohttp.ClientSession() as session, session.post(server.url + "/login", data=form) as resp:
        assert resp.status == 200
        assert await resp.json() == {"user": "ada", "scopes": ["read", "write"]}


def test_form_match_refuses_a_json_body(server: MockServer) -> None:
    miss = requests.post(server.url + "/login", json={"user": "ada"}, timeout=5)
    assert miss.status_code == 404
    assert miss.json()["near_misses"][0]["mismatches"] == [
        "form: body is not a form (Content-Type application/json; expected "
        "application/x-www-form-urlencoded or multipart/form-data)"]


def test_field_names_are_case_sensitive_and_the_near_miss_says_so(server: MockServer) -> None:
    miss = requests.post(server.url + "/login", data={"User": "ada", "scope": ["read", "write"]}, timeout=5)
    assert miss.json()["near_misses"][0]["mismatches"] == [
        "form user: expected equals 'ada', got absent (the form has 'User': names are case-sensitive)"]


def _raw_post(port: int, body: bytes) -> tuple[int, bytes]:
    data, _ = raw_exchange(port, b"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                                 b"Connection: close\r\n\r\n%s" % (len(body), body))
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


def test_raw_body_regex_and_equals_on_raw_bytes(server: MockServer) -> None:
    status, body = _raw_post(server.port, b"ping 1")
    assert status == 200 and body == b"pong 6"
    status, body = _raw_post(server.port, b"pinge")
    assert status == 404
    assert json.loads(body)["near_misses"][0]["mismatches"] == [
        "body: expected regex '^ping( |$)', got 'pinge'"]
    assert requests.put(server.url + "/raw", data=b"exactly this", timeout=5).status_code == 204
    assert requests.put(server.url + "/raw", data=b"exactly this!", timeout=5).status_code == 404


def test_templates_keep_types_and_draw_reproducibly(server: MockServer) -> None:
    sent = {"qty": 3, "items": ["a", "b"]}
    first = requests.post(server.url + "/orders/007", json=sent, timeout=5)
    assert first.status_code == 201 and first.headers["Location"] == "/orders/007"
    doc = first.json()
    assert {k: doc[k] for k in ("id", "n", "items", "big", "none", "label")} == {
        "id": "007", "n": 6, "items": ["a", "b"], "big": True, "none": None, "label": "3 x a+b"}
    assert isinstance(doc["roll"], int) and isinstance(doc["now"], float)
    with MockServer(SCENARIO) as again:  # same seed, same ordinal: the same draw
        assert requests.post(again.url + "/orders/007", json=sent, timeout=5).json()["roll"] == doc["roll"]
        second = requests.post(again.url + "/orders/007", json=sent, timeout=5).json()["roll"]
    assert second != doc["roll"]


def test_now_follows_the_server_clock(server: MockServer) -> None:
    before = requests.post(server.url + "/orders/1", json={"qty": 1, "items": []}, timeout=5).json()["now"]
    server.advance(3600)
    after = requests.post(server.url + "/orders/1", json={"qty": 1, "items": []}, timeout=5).json()["now"]
    assert 3600 <= after - before < 3660


def test_a_template_that_fails_on_a_request_answers_500_with_where(server: MockServer) -> None:
    answer = requests.get(server.url + "/broken?n=1", timeout=5)
    assert answer.status_code == 500
    message = answer.json()["error_msg"]
    assert message.startswith("template failed at <inline>") and "{{ query.n + 1 }}" in message
    assert requests.get(server.url + "/orders", timeout=5).status_code == 404  # still serving


def test_a_body_file_as_a_template(tmp_path: Path) -> None:
    (tmp_path / "cluster.json").write_text('{"id": "{{ path.id }}", "n": "{{ query.n | default(3) | int }}"}')
    (tmp_path / "page.txt").write_text("{% for i in range(query.n | int) %}{{ i }};{% endfor %}")
    (tmp_path / "s.yaml").write_text(
        "name: files\nrules:\n"
        "  - match: {path: '/clusters/{id}'}\n    respond: {file: cluster.json, template: true}\n"
        "  - match: {path: /page}\n    respond: {file: page.txt, template: true}\n"
        "  - match: {path: /raw}\n    respond: {file: page.txt}\n")
    with MockServer(load_scenario(tmp_path / "s.yaml")) as server:
        assert requests.get(server.url + "/clusters/c1?n=5", timeout=5).json() == {"id": "c1", "n": 5}
        assert requests.get(server.url + "/page?n=3", timeout=5).text == "0;1;2;"
        assert requests.get(server.url + "/raw", timeout=5).text.startswith("{% for")  # not asked: as is
