"""Redaction: a secret in every place a request carries one never reaches the written files,
placeholders are stable, and replay still matches the same client code with real credentials."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from mockserver import MockServer
from mockserver.record.build import Recorder, RecordOptions
from mockserver.record.redact import RedactOptions, Redactor
from tests.record.helpers import PROJECT, cap

BEARER = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.Zm9vYmFyYmF6"
COOKIE = "sess-7f3a9c1e2b4d"
API_KEY = "key-5a6b7c8d9e0f1a2b"
QUERY_TOKEN = "qtok-31415926535"
FORM_PASSWORD = "form-pw-hunter2!"
JSON_SECRET = 'json-sk-"quoted"-27182818'
SET_COOKIE = "srv-session-88776655"
SECRETS = (BEARER, COOKIE, API_KEY, QUERY_TOKEN, FORM_PASSWORD, JSON_SECRET, SET_COOKIE, "form-pw-hunter2%21")


def exchanges() -> Recorder:
    r = Recorder(RecordOptions(name="secrets", keep_latency=False))
    # the upstream echoes what it got: headers, the query, the JSON body (escaped inside a string)
    echo = json.dumps({"headers": {"Authorization": f"Bearer {BEARER}", "Cookie": f"a=1; s={COOKIE}",
                                   "X-Api-Key": API_KEY},
                       "args": {"token": QUERY_TOKEN},
                       "data": json.dumps({"user": "ann", "secret": JSON_SECRET})}).encode()
    r.add(cap("POST", f"/v3/{PROJECT}/login", query=(("token", QUERY_TOKEN), ("page", "1")),
              headers=(("Authorization", f"Bearer {BEARER}"), ("Cookie", f"a=1; s={COOKIE}"),
                       ("X-Api-Key", API_KEY), ("Content-Type", "application/json")),
              body=json.dumps({"user": "ann", "secret": JSON_SECRET}).encode(),
              response_headers=(("Content-Type", "application/json"),
                                ("Set-Cookie", f"srv={SET_COOKIE}; Path=/; HttpOnly"),
                                ("X-Echo-Key", API_KEY)),
              response_body=echo))
    r.add(cap("POST", "/form", headers=(("Content-Type", "application/x-www-form-urlencoded"),),
              body=f"user=ann&password={FORM_PASSWORD}".encode().replace(b"!", b"%21"),
              response_headers=(("Content-Type", "text/plain"),),
              response_body=f"hello ann, your password is {FORM_PASSWORD}".encode()))
    return r


def test_no_byte_of_any_secret_reaches_the_written_files(tmp_path: Path) -> None:
    exchanges().write(tmp_path / "rec.yaml")
    files = list(tmp_path.rglob("*"))
    assert files
    for path in files:
        if path.is_file():
            data = path.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in data, (path, secret)
                assert json.dumps(secret)[1:-1].encode() not in data, (path, secret)
    text = (tmp_path / "rec.yaml").read_text()
    assert "Bearer <redacted:authorization:1>" in text
    assert "<redacted:x-api-key:1>" in text  # the echoed header value got the request's placeholder
    assert "Set-Cookie: srv=<redacted:set-cookie:1>; Path=/; HttpOnly" in text


def test_the_same_secret_gets_the_same_placeholder_and_the_list_is_configurable() -> None:
    r = Redactor(RedactOptions(extra_headers=("X-Tenant-Secret",), extra_fields=("pin",)))
    a = r.redact(cap(headers=(("X-Tenant-Secret", "tenant-s3cr3t"),), query=(("pin", "98765"),)))
    b = r.redact(cap(headers=(("X-Tenant-Secret", "tenant-s3cr3t"),), query=(("pin", "11111"),)))
    assert a.request_headers == b.request_headers == (("X-Tenant-Secret", "<redacted:x-tenant-secret:1>"),)
    assert (a.query, b.query) == ((("pin", "<redacted:pin:1>"),), (("pin", "<redacted:pin:2>"),))
    plain = Redactor().redact(cap(headers=(("X-Tenant-Secret", "tenant-s3cr3t"),)))
    assert plain.request_headers == (("X-Tenant-Secret", "tenant-s3cr3t"),)


def test_redacted_fields_are_not_matched_so_real_credentials_still_get_their_answers(tmp_path: Path) -> None:
    exchanges().write(tmp_path / "rec.yaml")
    with MockServer([tmp_path / "rec.yaml"]) as server, requests.Session() as s:
        r = s.post(server.url_for(f"/v3/{PROJECT}/login?token=another-real-one&page=1"),
                   headers={"Authorization": "Bearer real", "X-Api-Key": "real"},
                   json={"user": "ann", "secret": "the real one"})
        assert r.status_code == 200, r.text
        assert r.json()["args"] == {"token": "<redacted:token:1>"}
        assert "page" in (tmp_path / "rec.yaml").read_text()  # the key that matters is still matched
        assert s.post(server.url_for(f"/v3/{PROJECT}/login?page=2"), json={"user": "ann"}).status_code == 404
