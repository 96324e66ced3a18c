"""The builder's units: path folding, decoding, sequences, templates, side files, latency, faults."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import pytest

from mockserver.record.build import Recorder, RecordOptions, decode_body, fold_path
from mockserver.scenario import load_paths
from tests.record.helpers import CLUSTER, PROJECT, cap


@pytest.mark.parametrize(("path", "template"), [
    (f"/v1.0/{PROJECT}/clusters/{CLUSTER}", "/v1.0/{project_id}/clusters/{cluster_id}"),
    (f"/v1.0/{PROJECT}/clusters/{CLUSTER}/instances/42",
     "/v1.0/{project_id}/clusters/{cluster_id}/instances/{instance_id}"),
    ("/v2/orders/1234/items/0a1b2c3d4e", "/v2/orders/{order_id}/items/{item_id}"),
    ("/policies/17", "/policies/{policy_id}"),
    ("/v1/42", "/v1/{id}"),
    ("/users/alice/settings", "/users/alice/settings"),
    ("/v1.0/clusters", "/v1.0/clusters"),
    ("/a/12/12", "/a/{a_id}/{id}"),
])
def test_id_segments_fold_into_named_parameters(path: str, template: str) -> None:
    assert fold_path(path)[0] == template


def test_bodies_are_stored_decoded() -> None:
    raw = b'{"a": 1}'
    assert decode_body(gzip.compress(raw), [("Content-Encoding", "gzip")]) == raw
    assert decode_body(zlib.compress(raw), [("content-encoding", "deflate")]) == raw
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    data = raw_deflate.compress(raw) + raw_deflate.flush()
    assert decode_body(data, [("Content-Encoding", "deflate")]) == raw
    assert decode_body(gzip.compress(zlib.compress(raw)), [("Content-Encoding", "deflate, gzip")]) == raw
    brotli = pytest.importorskip("brotli")
    assert decode_body(brotli.compress(raw), [("Content-Encoding", "br")]) == raw


def test_a_body_that_cannot_be_decoded_keeps_its_encoding_and_says_so(tmp_path: Path) -> None:
    r = Recorder(RecordOptions(keep_latency=False))
    r.add(cap(path="/z", response_body=b"not gzip", response_headers=(("Content-Encoding", "gzip"),)))
    assert r.warnings[0].startswith("GET /z: body kept as received (could not undo its Content-Encoding")
    rule = r.scenario()["rules"][0]
    assert rule["respond"]["headers"] == {"Content-Encoding": "gzip"}


def test_latency_is_fitted_as_a_lognormal_per_rule() -> None:
    r = Recorder()
    for latency in (0.010, 0.020, 0.040):
        r.add(cap(path="/slow", latency=latency))
    delay = r.scenario()["rules"][0]["respond"]["delay"]
    sigma = math.log(2) * math.sqrt(2 / 3)  # the spread of ln(10), ln(20), ln(40)
    assert delay == {"lognormal": {"median": "20ms", "sigma": round(sigma, 3), "max": "40ms"}}


def test_changing_values_become_templates_and_equal_answers_one_plan() -> None:
    r = Recorder(RecordOptions(keep_latency=False))
    for n in (1, 2):
        r.add(cap(path="/item", response_headers=(("ETag", f'"v{n}"'), ("X-Request-Id", f"id-{n}"),
                                                   ("Last-Modified", f"Tue, 0{n} Dec 2026 10:00:00 GMT"),
                                                   ("Content-Type", "application/json"))))
    respond = r.scenario()["rules"][0]["respond"]
    assert respond == {"status": 200, "reason": "OK", "repeat": 2,
                       "headers": {"ETag": '"{{ request.id }}"', "X-Request-Id": "{{ request.id }}",
                                   "Content-Type": "application/json"}, "json": {}}


def test_resources_that_answered_differently_keep_their_own_rules() -> None:
    r = Recorder(RecordOptions(keep_latency=False))
    other = CLUSTER.replace("5c1d", "7e2f")
    r.add(cap(path=f"/v1.0/{PROJECT}/clusters/{CLUSTER}", response_body=b'{"n": 1}'))
    r.add(cap(path=f"/v1.0/{PROJECT}/clusters/{other}", response_body=b'{"n": 2}'))
    paths = [rule["match"]["path"] for rule in r.scenario()["rules"]]
    assert paths == [f"/v1.0/{{project_id}}/clusters/{CLUSTER}", f"/v1.0/{{project_id}}/clusters/{other}"]


def test_failures_become_faults_and_mixed_ones_a_weighted_mix() -> None:
    r = Recorder(RecordOptions(keep_latency=False))
    r.add(cap(path="/gone", status=None, failure="timeout", response_headers=(), response_body=b""))
    r.add(cap(path="/cut", status=None, failure="truncated", response_headers=(), response_body=b""))
    for failure in (None, None, "reset"):
        r.add(cap(path="/flaky", status=None if failure else 200, failure=failure))
    rules = {rule["match"]["path"]: rule for rule in r.scenario()["rules"]}
    assert rules["/gone"]["fault"] == "hang" and "respond" not in rules["/gone"]
    assert rules["/cut"]["fault"] == {"type": "truncate", "fraction": 0.5}
    assert rules["/flaky"]["mix"] == [{"weight": 2}, {"weight": 1, "fault": "reset"}]


def test_large_binary_and_template_like_bodies_go_to_side_files(tmp_path: Path) -> None:
    r = Recorder(RecordOptions(name="side", side_file_bytes=100, keep_latency=False))
    r.add(cap(path="/png", response_body=b"\x89PNG\r\n\x1a\n\xff",
              response_headers=(("Content-Type", "image/png"),)))
    r.add(cap(path="/tpl", response_body=b"Hello {{ name }}",
              response_headers=(("Content-Type", "text/html"),)))
    r.add(cap(path="/large", response_body=b"[" + b"1," * 100 + b"1]"))
    written = r.write(tmp_path / "side.yaml")
    assert sorted(p.name for p in written[1:]) == ["get-large-1.json", "get-png-1.png", "get-tpl-1.html"]
    assert (tmp_path / "side.files" / "get-tpl-1.html").read_bytes() == b"Hello {{ name }}"
    assert [s.name for s in load_paths([tmp_path / "side.yaml"])] == ["side"]


def test_the_yaml_is_block_style_with_a_comment_per_rule() -> None:
    r = Recorder(RecordOptions(keep_latency=False))
    r.add(cap(path="/a", query=(("limit", "5"), ("_", "1700000000"))))
    text, _ = r.render()
    assert text.splitlines()[2:] == [
        "name: recording", "rules:",
        "  # 1 exchange(s) with http://127.0.0.1:9, first at 2025-12-02T00:00:00Z: GET /a",
        "  - name: get a", "    match:", "      method: GET", "      path: /a", "      query:",
        "        limit: '5'", "    respond:", "      status: 200", "      reason: OK", "      headers:",
        "        Content-Type: application/json", "      json: {}"]
