"""Observers get one Captured per forwarded exchange: the request as sent, the answer as received."""

from __future__ import annotations

import gzip
import json

import requests

from mockserver import MockServer
from mockserver.record.capture import Captured


def test_each_forwarded_exchange_is_handed_over(httpbin_url: str, refused_url: str) -> None:
    seen: list[Captured] = []
    late: list[Captured] = []
    with MockServer(None, proxy_unmatched=httpbin_url, on_proxied=seen.append) as s:
        s.add_proxy_observer(late.append)
        requests.post(s.url_for("/anything/a?k=1&k=2"), data=b"sent", headers={"X-Kept": "1"}, timeout=5)
        requests.get(s.url_for("/gzip"), timeout=5)
    assert len(seen) == 2 and late == seen
    post, gz = seen
    assert (post.method, post.path, post.query) == ("POST", "/anything/a", (("k", "1"), ("k", "2")))
    assert post.request_body == b"sent" and ("X-Kept", "1") in post.request_headers
    assert ("Via", "1.1 mockserver") in post.request_headers
    assert (post.status, post.reason, post.failure, post.upstream) == (200, "OK", None, httpbin_url)
    assert json.loads(post.response_body)["data"] == "sent" and post.latency > 0
    assert ("Content-Encoding", "gzip") in gz.response_headers
    assert gzip.decompress(gz.response_body).startswith(b"{")  # as on the wire: still compressed
    with MockServer(None, proxy_unmatched=refused_url, on_proxied=seen.append) as s:
        requests.get(s.url_for("/x"), timeout=5)
    assert (seen[-1].status, seen[-1].failure, seen[-1].response_body) == (None, "refused", b"")


def test_an_observer_that_raises_does_not_break_the_exchange(httpbin_url: str) -> None:
    def broken(_: Captured) -> None:
        raise RuntimeError("observer bug")

    with MockServer(None, proxy_unmatched=httpbin_url, on_proxied=broken) as s:
        assert requests.get(s.url_for("/get"), timeout=5).status_code == 200
        assert s.journal.entries()[-1].outcome == "proxied"
