"""The control API as a test in another language sees it: plain HTTP, JSON in and out."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from mockserver import MockServer
from mockserver.control.api import ERRORS
from tests.conftest import raw_exchange

HELLO = {"name": "hello", "rules": [{"name": "hi", "match": {"path": "/hi"}, "respond": {"body": "hi"}}]}
TOKEN = "s3cr3t-token-value"


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer(HELLO) as srv:
        yield srv


def call(server: MockServer, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, server.url_for("/__mock" + path), timeout=5, **kwargs)


def assert_error(resp: requests.Response, code: str) -> dict:
    body = resp.json()
    assert resp.status_code == ERRORS[code][0], body
    assert body["error"] == code and isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in resp.text
    return body


def test_health_counts_what_is_served(server: MockServer) -> None:
    assert call(server, "GET", "/health").json() == {
        "status": "ok", "scenarios": 1, "rules": 1, "reload_error": None, "state": None, "pid": os.getpid()}


def test_scenarios_add_replace_list_delete(server: MockServer) -> None:
    assert call(server, "GET", "/scenarios").json() == [
        {"name": "hello", "source": "<inline>", "rules": ["hello/hi"]}]
    yaml_body = "name: extra\nrules:\n  - name: x\n    match: {path: /x}\n    respond: {status: 202}\n"
    resp = call(server, "POST", "/scenarios", data=yaml_body, headers={"Content-Type": "application/yaml"})
    assert resp.status_code == 201
    assert resp.json() == {"name": "extra", "source": "<body>", "rules": ["extra/x"]}
    assert requests.get(server.url_for("/x"), timeout=5).status_code == 202
    # same name again: replaced (200), still one scenario of that name
    again = {"name": "extra", "rules": [{"name": "y", "match": {"path": "/y"}, "respond": {"status": 203}}]}
    resp = call(server, "POST", "/scenarios", json=again)
    assert resp.status_code == 200 and resp.json()["rules"] == ["extra/y"]
    assert [s["name"] for s in call(server, "GET", "/scenarios").json()] == ["hello", "extra"]
    assert requests.get(server.url_for("/x"), timeout=5).status_code == 404
    assert call(server, "DELETE", "/scenarios/extra").json() == {"removed": "extra"}
    assert_error(call(server, "DELETE", "/scenarios/extra"), "unknown_scenario")
    assert [s.name for s in server.scenarios] == ["hello"]


def test_put_replaces_everything_with_a_list_or_one(server: MockServer) -> None:
    two = [{"name": "a", "rules": [{"respond": {"status": 201}}]},
           {"name": "b", "rules": [{"match": {"path": "/b"}, "respond": {"status": 202}}]}]
    resp = call(server, "PUT", "/scenarios", json=two)
    assert resp.status_code == 200 and [s["name"] for s in resp.json()] == ["a", "b"]
    assert [s.name for s in server.scenarios] == ["a", "b"]
    resp = call(server, "PUT", "/scenarios", json=HELLO)
    assert [s["name"] for s in resp.json()] == ["hello"] and [s.name for s in server.scenarios] == ["hello"]


def test_invalid_scenario_lists_every_problem_and_changes_nothing(server: MockServer) -> None:
    body = ("name: broken\nrules:\n  - match: {path: /a}\n    respond: {statuss: 200}\n"
            "  - match: {path: /b}\n    respond: {delay: soon}\n")
    before = server.engine
    problems = assert_error(call(server, "POST", "/scenarios", data=body), "invalid_scenario")["problems"]
    assert len(problems) == 2
    assert problems[0].startswith("<body>:4:24: rules[0].respond.statuss: unknown field 'statuss' "
                                  "(did you mean 'status'?); valid fields: ")
    assert problems[1] == ("<body>:6:22: rules[1].respond.delay: found 'soon'; "
                           "expected a duration such as 1.5, 250ms, 2s or 1m")
    assert server.engine is before


def test_put_checks_every_item_and_names_them(server: MockServer) -> None:
    body = json.dumps([{"name": "ok", "rules": [{"respond": {}}]},
                       {"name": "bad", "rules": [{"respond": {"status": 1000}}]},
                       {"name": "ok", "rules": [{"respond": {}}]}], indent=1)
    before = server.engine
    resp = call(server, "PUT", "/scenarios", data=body, headers={"Content-Type": "application/json"})
    problems = assert_error(resp, "invalid_scenario")["problems"]
    assert len(problems) == 2
    assert problems[0].startswith("<body>[1]:") and "rules[0].respond.status" in problems[0]
    assert problems[1].startswith("<body>[2]: name: found 'ok' again (also in <body>[0])")
    assert server.engine is before


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    ('{"name": "x", "rules": [', "application/json", "<body>:1:25: (document): invalid JSON: "),
    ("name: [unclosed", "application/yaml", "<body>:"),
    ("", "text/plain", "<body>:1:1: (document): found an empty file"),
    ("- 1\n- 2\n", "text/plain", "<body>:1:1: (document): found a list; expected one scenario"),
    (b"\xff\xfe", "text/plain", "<body>: (document): found bytes that are not UTF-8"),
    ("name: x\nrules: \x08", "text/plain",
     "<body>: (document): invalid YAML: special characters are not allowed"),
])
def test_unparseable_scenario_bodies(server: MockServer, body: str | bytes, content_type: str,
                                     expected: str) -> None:
    resp = call(server, "POST", "/scenarios", data=body, headers={"Content-Type": content_type})
    problems = assert_error(resp, "invalid_scenario")["problems"]
    assert problems[0].startswith(expected), problems


def test_state_reset_journal_seed_clock(server: MockServer) -> None:
    assert call(server, "PUT", "/state", json={"name": "order", "value": "paid"}).json() == {
        "states": {"order": "paid"}}
    update = {"name": "order", "value": "new", "session": "s1"}
    assert call(server, "PUT", "/state", json=update).status_code == 200
    assert call(server, "GET", "/state").json() == {"states": {"order": "paid"}}
    assert call(server, "GET", "/state", params={"session": "s1"}).json() == {"states": {"order": "new"}}

    requests.get(server.url_for("/hi"), timeout=5)
    requests.post(server.url_for("/nope"), headers={"X-Mock-Session": "s1"}, timeout=5)
    page = call(server, "GET", "/journal").json()
    assert page["count"] == 2 and [e["path"] for e in page["entries"]] == ["/hi", "/nope"]
    assert call(server, "GET", "/journal", params={"rule": "hello/hi"}).json()["count"] == 1
    assert call(server, "GET", "/journal", params={"rule": "hi"}).json()["count"] == 1
    assert call(server, "GET", "/journal", params={"method": "post", "status": 404}).json()["count"] == 1
    assert call(server, "GET", "/journal", params={"session": "s1"}).json()["entries"][0]["path"] == "/nope"
    assert call(server, "GET", "/journal", params={"path": "/hi", "status": 404}).json()["count"] == 0
    last = call(server, "GET", "/journal", params={"limit": 1}).json()
    assert [e["path"] for e in last["entries"]] == ["/nope"] and last["count"] == 2
    assert call(server, "GET", "/journal", params={"limit": 0}).json() == {"entries": [], "count": 2}
    assert call(server, "GET", "/journal", params={"outcome": "unmatched"}).json()["count"] == 1

    assert call(server, "POST", "/reset", params={"session": "s1"}).json() == {"reset": True, "session": "s1"}
    assert call(server, "GET", "/state", params={"session": "s1"}).json() == {"states": {}}
    assert call(server, "GET", "/journal").json()["count"] == 2  # a session reset keeps the journal
    assert call(server, "DELETE", "/journal").json() == {"cleared": True}
    assert call(server, "GET", "/journal").json()["count"] == 0

    assert call(server, "POST", "/seed", json={"seed": 7}).json() == {"seed": 7}
    assert server.seed == 7
    assert call(server, "POST", "/seed", json={"seed": None}).json() == {"seed": None}
    now = call(server, "POST", "/clock/advance", json={"seconds": 30}).json()["now"]
    assert now >= 30
    assert call(server, "POST", "/reset").json() == {"reset": True, "session": None}
    assert server.clock.now() < 30 and call(server, "GET", "/state").json() == {"states": {}}


@pytest.mark.parametrize(("method", "path", "kwargs", "code", "detail"), [
    ("GET", "/nowhere", {}, "not_found", "no control endpoint /__mock/nowhere; endpoints: "),
    ("POST", "/health", {}, "method_not_allowed", "POST /__mock/health: allowed methods are GET"),
    ("GET", "/journal", {"params": {"status": "abc"}}, "bad_request",
     "status: found 'abc'; expected an integer"),
    ("GET", "/journal", {"params": {"limit": "-1"}}, "bad_request", "limit: found '-1'"),
    ("GET", "/journal", {"params": {"stauts": "200"}}, "bad_request", "unknown query parameter 'stauts'"),
    ("PUT", "/state", {"data": "{"}, "bad_request", "the body is not JSON"),
    ("PUT", "/state", {"json": [1]}, "bad_request", "found JSON list; expected a JSON object"),
    ("PUT", "/state", {"json": {"name": "a"}}, "bad_request", "value: missing; expected a string"),
    ("PUT", "/state", {"json": {"name": "a", "value": 1}}, "bad_request",
     "value: found 1; expected a string"),
    ("PUT", "/state", {"json": {"name": "a", "value": "b", "sesion": ""}}, "bad_request",
     "sesion: unknown field; valid fields: name, session, value"),
    ("PUT", "/state", {"json": {"name": "", "value": "b"}}, "bad_request", "name: found ''"),
    ("POST", "/seed", {"json": {"seed": "x"}}, "bad_request", 'seed: found "x"; expected an integer or null'),
    ("POST", "/seed", {"json": {"seed": True}}, "bad_request", "seed: found true"),
    ("POST", "/seed", {}, "bad_request", "found an empty body; expected a JSON object"),
    ("POST", "/clock/advance", {"json": {"seconds": -1}}, "bad_request",
     "seconds: found -1; expected a number"),
    ("POST", "/clock/advance", {"data": '{"seconds": NaN}'}, "bad_request", "seconds: found nan"),
    ("POST", "/reset", {"params": {"all": "1"}}, "bad_request", "unknown query parameter 'all'"),
])
def test_bad_calls_get_one_error_shape_and_change_nothing(server: MockServer, method: str, path: str,
                                                         kwargs: dict, code: str, detail: str) -> None:
    before = (server.engine, server.store.states(), server.seed, len(server.journal))
    body = assert_error(call(server, method, path, **kwargs), code)
    assert body["detail"].startswith(detail), body["detail"]
    assert (server.engine, server.store.states(), server.seed, len(server.journal)) == before


def test_a_newline_in_a_control_path_is_still_the_control_api(server: MockServer) -> None:
    assert_error(call(server, "DELETE", "/scenarios/a%0Ab"), "unknown_scenario")
    assert_error(call(server, "GET", "/x%0Ay"), "not_found")


def test_method_not_allowed_says_which_are(server: MockServer) -> None:
    resp = call(server, "PATCH", "/scenarios")
    assert_error(resp, "method_not_allowed")
    assert resp.headers["Allow"] == "GET, POST, PUT"


def test_too_large_body_is_refused() -> None:
    with MockServer(HELLO, max_body_size=1024) as server:
        body = "name: big\nrules: []\n" + "#" * 2000
        assert_error(call(server, "POST", "/scenarios", data=body), "payload_too_large")
        assert [s.name for s in server.scenarios] == ["hello"]


def _wire_answer(server: MockServer, head: bytes, body: bytes = b"") -> tuple[int, dict, bytes, float]:
    """Send *head* and *body* on a raw socket, left open: the status, JSON body, head and delay."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=3.0) as sock:
        sock.sendall(head + body)
        received = b""
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < int(
                re.search(rb"(?i)content-length: *(\d+)", received.partition(b"\r\n\r\n")[0])[1]):
            chunk = sock.recv(65536)  # a 3 s timeout: no answer fails the test with TimeoutError
            assert chunk, f"the connection closed after {received!r}"
            received += chunk
    elapsed = time.monotonic() - started
    answer_head, _, payload = received.partition(b"\r\n\r\n")
    return int(answer_head.split()[1]), json.loads(payload), answer_head, elapsed


def test_a_huge_content_length_is_refused_before_the_body_is_read(server: MockServer) -> None:
    """10 MiB announced (under the port's 16 MiB, over a scenario's 4 MiB), none sent: 413 at once."""
    head = (b"POST /__mock/scenarios HTTP/1.1\r\nHost: x\r\nContent-Type: application/yaml\r\n"
            b"Content-Length: 10485760\r\n\r\n")
    status, body, answer_head, elapsed = _wire_answer(server, head)
    assert status == 413 and body == {
        "error": "payload_too_large",
        "detail": "Content-Length: found 10485760 bytes; expected a control-API body of at most 4194304"}
    assert elapsed < 2.0  # answered without waiting for the 10 MiB
    assert b"\r\nConnection: close" in answer_head  # the unread body ends the connection
    assert [s.name for s in server.scenarios] == ["hello"]


@pytest.mark.parametrize("path", ["/scenarios", "/state"])
def test_a_chunked_body_is_bounded_while_it_is_read(server: MockServer, path: str) -> None:
    """No Content-Length: the answer comes once 4 MiB + 1 byte arrived, without waiting for the end."""
    limit = 4 * 1024 * 1024
    head = (f"{'POST' if path == '/scenarios' else 'PUT'} /__mock{path} HTTP/1.1\r\nHost: x\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    piece = b"#" * 65536
    chunks = b"".join(b"%x\r\n%b\r\n" % (len(piece), piece) for _ in range(limit // len(piece)))
    status, body, answer_head, elapsed = _wire_answer(server, head, chunks + b"1\r\n#")  # never ends
    assert status == 413 and body == {
        "error": "payload_too_large",
        "detail": "found more than 4194304 bytes; expected a control-API body of at most 4194304"}
    assert elapsed < 2.5 and b"\r\nConnection: close" in answer_head
    assert [s.name for s in server.scenarios] == ["hello"]


def test_a_body_under_the_limit_without_content_length_is_read_whole(server: MockServer) -> None:
    head = b"PUT /__mock/state HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    data = json.dumps({"name": "door", "value": "open"}).encode()
    status, body, _, _ = _wire_answer(server, head, b"%x\r\n%b\r\n0\r\n\r\n" % (len(data), data))
    assert status == 200 and body == {"states": {"door": "open"}}


def test_control_requests_are_not_journaled_or_counted(server: MockServer) -> None:
    call(server, "GET", "/health")
    call(server, "GET", "/nowhere")
    assert len(server.journal) == 0 and server.metrics.requests == {}


def test_token_guards_every_control_call_and_never_leaks() -> None:
    with MockServer(HELLO, admin_token=TOKEN) as server:
        for method, path in [("GET", "/health"), ("GET", "/scenarios"), ("GET", "/nowhere"),
                             ("POST", "/reset"), ("GET", "/openapi.json"), ("GET", "/metrics")]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                resp = call(server, method, path, headers=headers)
                assert_error(resp, "unauthorized")
                assert resp.headers["WWW-Authenticate"] == 'Bearer realm="mockserver"'
                assert TOKEN not in resp.text
        ok = call(server, "GET", "/health", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        # the mocked API itself is not guarded, and control calls leave no trace in the journal
        assert requests.get(server.url_for("/hi"), timeout=5).text == "hi"
        assert [e.path for e in server.journal.entries()] == ["/hi"]
        assert TOKEN not in json.dumps([e.as_dict() for e in server.journal.entries()])


def test_public_health_opens_health_only() -> None:
    with MockServer(HELLO, admin_token=TOKEN, public_health=True) as server:
        assert call(server, "GET", "/health").status_code == 200
        assert_error(call(server, "GET", "/scenarios"), "unauthorized")


def test_faults_over_http(server: MockServer) -> None:
    resp = call(server, "POST", "/faults", json={"name": "slow-down", "respond": {"status": 503}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"] == "slow-down"
    assert [f["name"] for f in call(server, "GET", "/faults").json()] == ["slow-down"]
    assert requests.get(server.url_for("/hi"), timeout=5).status_code == 503
    assert call(server, "DELETE", "/faults/slow-down").json() == {"removed": "slow-down"}
    assert requests.get(server.url_for("/hi"), timeout=5).status_code == 200
    assert_error(call(server, "DELETE", "/faults/slow-down"), "unknown_fault")
    body = assert_error(call(server, "POST", "/faults", json={"respond": {"statuss": 1}}), "invalid_fault")
    assert body["problems"] and server.list_faults() == []


def test_a_body_cannot_read_the_servers_files(server: MockServer) -> None:
    body = "name: f\nrules:\n  - respond: {file: /etc/passwd}\n"
    problems = assert_error(call(server, "POST", "/scenarios", data=body), "invalid_scenario")["problems"]
    assert problems[0].startswith("<body>:3:21: rules[0].respond.file: found file '/etc/passwd'")
    assert "passwd" not in requests.get(server.url_for("/"), timeout=5).text


def test_the_journal_keeps_repeated_headers_as_pairs_and_filters_on_headers_and_body(
        server: MockServer) -> None:
    """A header sent twice keeps both values (header_pairs in order; joined in headers, for older readers)."""
    _, _ = raw_exchange(server.port, b"POST /hi HTTP/1.1\r\nHost: x\r\nX-Tag: a\r\nx-tag: b\r\n"
                                     b"Content-Length: 13\r\nConnection: close\r\n\r\n{\"order\": 42}")
    requests.get(server.url_for("/hi"), headers={"X-Tag": "c"}, timeout=5)
    [first, second] = call(server, "GET", "/journal").json()["entries"]
    assert first["header_pairs"] == [["Host", "x"], ["X-Tag", "a"], ["x-tag", "b"], ["Content-Length", "13"],
                                     ["Connection", "close"]]
    assert first["headers"] == {"Host": "x", "X-Tag": "a, b", "Content-Length": "13", "Connection": "close"}

    def seqs(**params: str | list[str]) -> list[int]:
        return [e["seq"] for e in call(server, "GET", "/journal", params=params).json()["entries"]]

    assert seqs(header="x-TAG:b") == [first["seq"]]  # any value of a repeated header, name any case
    assert seqs(header="X-Tag: c") == [second["seq"]]
    assert seqs(header="X-Tag") == [first["seq"], second["seq"]]
    assert seqs(header=["X-Tag", "Content-Length:13"]) == [first["seq"]]  # every one must hold
    assert seqs(header="X-Tag:ab") == [] and seqs(header="X-Other") == []
    assert seqs(body='"order": 42') == [first["seq"]] and seqs(body="43") == []
    body = assert_error(call(server, "GET", "/journal", params={"header": ":x"}), "bad_request")
    assert body["detail"] == ("header: found ':x'; expected NAME or NAME:VALUE "
                              "(such as header=X-Request-Id or header=Accept:application/json)")
