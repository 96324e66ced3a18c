"""The pure answer without sockets: unmatched 404/405/204 with Allow, conditional requests,
ranges, refusals from the head, Retry-After, and the deadline against the delay."""

from __future__ import annotations

import json
from email.utils import formatdate
from typing import Any

import pytest

from mockserver import Engine, RequestSnapshot, load_scenario
from mockserver.answer import (
    Answer,
    Refusal,
    answer,
    refuse_body,
    refuse_expectation,
    refuse_head,
    unmatched_plan,
)
from mockserver.journal import Outcome

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 GMT
LOADED = 1_600_000_000.0  # 2020-09-13 12:26:40 GMT
LOADED_TEXT = "Sun, 13 Sep 2020 12:26:40 GMT"


def engine(*rules: dict[str, Any]) -> Engine:
    return Engine([load_scenario({"name": "t", "rules": list(rules)})])


def answer_to(e: Engine, method: str = "GET", path: str = "/x", *, max_delay: float = 600.0,
              **kw: Any) -> Answer:
    request = RequestSnapshot(method, path, **kw)
    resolution = e.resolve(request, "rid1")
    return answer(resolution, request, "rid1", allowed=e.allowed_methods, timeout_plan=e.timeout_plan,
                  max_delay=max_delay, last_modified=LOADED, now=NOW)


def header(a: Answer, name: str) -> str | None:
    return next((v for k, v in a.headers if k.lower() == name.lower()), None)


BODY = {"match": {"method": "GET", "path": "/x"}, "respond": {"body": "0123456789"}}


# --- unmatched -------------------------------------------------------------------------------------


def test_unmatched_path_is_404_without_allow() -> None:
    a = answer_to(engine(BODY), path="/nowhere")
    assert (a.status, a.reason, a.outcome) == (404, "NotFound", Outcome.UNMATCHED)
    assert a.headers == (("Content-Type", "application/json"), ("X-Request-Id", "rid1"))
    body = json.loads(a.body)
    assert (body["error_code"], body["error_msg"]) == ("MOCK.0404", "No rule matched GET /nowhere")
    assert body["near_misses"][0]["mismatches"] == ["path: expected /x, got /nowhere"]


def test_other_method_on_a_served_path_is_405_with_allow() -> None:
    e = engine(BODY, {"match": {"method": "PUT", "path": "/x"}})
    a = answer_to(e, "DELETE")
    assert (a.status, a.reason, a.outcome) == (405, "MethodNotAllowed", "unmatched")
    assert header(a, "Allow") == "GET, HEAD, OPTIONS, PUT"  # GET rules take HEAD too
    body = json.loads(a.body)
    assert body["error_msg"] == "DELETE is not allowed on /x; allowed: GET, HEAD, OPTIONS, PUT"
    assert body["error_code"] == "CSS.0405"


def test_options_on_a_served_path_is_204_with_allow_and_counts_as_answered() -> None:
    a = answer_to(engine(BODY), "OPTIONS")
    assert (a.status, a.reason, a.body, a.outcome) == (204, "NoContent", b"", Outcome.ANSWERED)
    assert header(a, "Allow") == "GET, HEAD, OPTIONS"


def test_served_method_that_did_not_match_stays_404() -> None:
    e = engine({"match": {"method": "GET", "path": "/x", "query": {"a": "1"}}})
    a = answer_to(e, "GET")
    assert (a.status, a.outcome) == (404, Outcome.UNMATCHED)
    assert header(a, "Allow") is None


def test_unmatched_plan_itself() -> None:
    e = engine(BODY)
    plan = e.resolve(RequestSnapshot("POST", "/x")).plan
    assert unmatched_plan("POST", "/x", plan, ()) == (plan, Outcome.UNMATCHED)
    p405, outcome = unmatched_plan("POST", "/x", plan, ("GET", "HEAD"))
    assert (p405.status, dict(p405.headers)["Allow"], outcome) == (405, "GET, HEAD, OPTIONS", "unmatched")


def test_a_planned_405_gets_allow_from_the_rules() -> None:
    e = engine(BODY, {"match": {"method": "POST", "path": "/x"}, "respond": {"status": 405}})
    a = answer_to(e, "POST")
    assert (a.status, header(a, "Allow"), a.outcome) == (405, "GET, HEAD, OPTIONS, POST", "answered")


# --- conditional requests and ranges ---------------------------------------------------------------


def etag(e: Engine) -> str:
    tag = header(answer_to(e), "ETag")
    assert tag is not None
    return tag


def test_plain_200_carries_validators() -> None:
    e = engine(BODY)
    a = answer_to(e)
    assert (a.status, a.body, header(a, "Accept-Ranges")) == (200, b"0123456789", "bytes")
    assert etag(e).startswith('"') and header(a, "Last-Modified") is not None


def test_if_none_match_gives_304_without_body() -> None:
    e = engine(BODY)
    a = answer_to(e, headers={"If-None-Match": etag(e)})
    assert (a.status, a.reason, a.body) == (304, "Not Modified", b"")
    assert header(a, "ETag") == etag(e) and header(a, "Content-Type") is None
    assert a.decisions[-1] == f"If-None-Match {etag(e)} matched"


def test_if_match_failing_gives_412() -> None:
    e = engine(BODY)
    a = answer_to(e, headers={"If-Match": '"other"'})
    assert (a.status, a.reason, header(a, "Content-Type")) == (412, "Precondition Failed", "application/json")
    message = f'If-Match "other" failed against {etag(e)}'
    assert json.loads(a.body) == {"error_code": "CSS.0412", "error_msg": message}
    assert a.decisions[-1] == f'If-Match "other" failed against {etag(e)}'


def test_if_none_match_on_unsafe_method_gives_412() -> None:
    e = engine({"match": {"method": "PUT", "path": "/x"}, "respond": {"body": "v"}})
    tag = header(answer_to(e, "PUT"), "ETag")
    a = answer_to(e, "PUT", headers={"If-None-Match": "*"})
    assert tag is not None and a.status == 412
    assert a.decisions[-1] == "If-None-Match * matched on PUT"


def test_if_modified_since_gives_304_or_200() -> None:
    e = engine({"match": {"path": "/m"}, "respond": {"body": "x"}})
    last = header(answer_to(e, path="/m"), "Last-Modified")
    assert last is not None
    assert answer_to(e, path="/m", headers={"If-Modified-Since": last}).status == 304
    assert answer_to(e, path="/m", headers={"If-Modified-Since": formatdate(0, usegmt=True)}).status == 200


def test_range_gives_206_with_content_range() -> None:
    a = answer_to(engine(BODY), headers={"Range": "bytes=2-4"})
    assert (a.status, a.reason, a.body) == (206, "Partial Content", b"234")
    assert header(a, "Content-Range") == "bytes 2-4/10"
    assert answer_to(engine(BODY), headers={"Range": "bytes=-3"}).body == b"789"


def test_multi_range_is_not_served_and_falls_back_to_200() -> None:
    a = answer_to(engine(BODY), headers={"Range": "bytes=0-1,4-5"})
    assert (a.status, a.body) == (200, b"0123456789")
    assert a.decisions[-1] == "Range ignored (only one byte range is served)"


def test_unsatisfiable_range_gives_416_with_content_range() -> None:
    a = answer_to(engine(BODY), headers={"Range": "bytes=20-30"})
    assert (a.status, a.reason) == (416, "Requested range not satisfiable")
    assert header(a, "Content-Range") == "bytes */10"
    assert a.decisions[-1] == "Range bytes=20-30 unsatisfiable"


def test_unmatched_answers_skip_conditionals() -> None:
    a = answer_to(engine(BODY), path="/nowhere", headers={"If-None-Match": "*"})
    assert a.status == 404


# --- Retry-After and the deadline --------------------------------------------------------------------


def test_retry_after_in_seconds_and_as_a_date() -> None:
    e = engine({"match": {"path": "/s"}, "respond": {"status": 503, "retry_after": 2.5}},
               {"match": {"path": "/d"}, "respond": {"status": 429, "retry_after": {"date": "30s"}}})
    assert header(answer_to(e, path="/s"), "Retry-After") == "3"
    assert header(answer_to(e, path="/d"), "Retry-After") == "Tue, 14 Nov 2023 22:13:50 GMT"


DELAYED = {"match": {"path": "/slow"}, "respond": {"delay": "2s", "body": "late"}}


def test_deadline_shorter_than_delay_gives_504_at_the_deadline() -> None:
    a = answer_to(engine(DELAYED), path="/slow", query={"Timeout": "500ms"})
    assert (a.status, a.reason, a.outcome, a.timed_out, a.sleep) == (
        504, "ServerTimeout", Outcome.TIMED_OUT, True, 0.5)


def test_deadline_longer_than_delay_gives_the_answer_after_the_delay() -> None:
    a = answer_to(engine(DELAYED), path="/slow", headers={"Timeout": "5"})
    assert (a.status, a.body, a.outcome, a.timed_out, a.sleep) == (200, b"late", "answered", False, 2.0)


def test_no_deadline_and_max_delay_caps_the_sleep() -> None:
    assert answer_to(engine(DELAYED), path="/slow").sleep == 2.0
    assert answer_to(engine(DELAYED), path="/slow", max_delay=0.25).sleep == 0.25
    assert answer_to(engine(BODY)).sleep == 0.0


def test_a_deadline_504_replaces_the_fault() -> None:
    e = engine({"match": {"path": "/f"}, "fault": "reset", "respond": {"delay": "1s"}})
    late = answer_to(e, path="/f")
    assert (late.outcome, late.fault is not None, late.seen_status, late.seen_headers) == (
        Outcome.FAULT, True, None, ())
    timed = answer_to(e, path="/f", query={"Timeout": "10ms"})
    assert (timed.outcome, timed.fault, timed.seen_status) == (Outcome.TIMED_OUT, None, 504)


# --- verbatim: the answers whose bytes the wire may reuse --------------------------------------------


VERBATIM_RULES = [
    BODY, DELAYED,
    {"match": {"path": "/busy"}, "respond": {"status": 503, "headers": {"Retry-After": "1"}}},
    {"match": {"path": "/echo"}, "respond": {"body": "{{ query.q }}"}},
    {"match": {"path": "/dated"}, "respond": {"status": 429, "retry_after": {"date": "30s"}}},
    {"match": {"path": "/teapot"}, "respond": {"status": 405}},
    {"match": {"path": "/gone"}, "fault": "reset"},
]


@pytest.mark.parametrize(("path", "kw", "verbatim"), [
    ("/x", {}, True),  # a static 200 with its validators
    ("/busy", {}, True),  # a static 503
    ("/slow", {"query": {"Timeout": "500ms"}}, True),  # the deadline's 504: the engine's own plan
    ("/x", {"headers": {"If-None-Match": "*"}}, False),  # a conditional request: 304 made here
    ("/x", {"headers": {"Range": "bytes=0-1"}}, False),  # a range: 206 made here
    ("/echo", {"query": {"q": "a"}}, False),  # a template
    ("/dated", {}, False),  # Retry-After as a date
    ("/teapot", {}, False),  # Allow computed from the rules
    ("/gone", {}, False),  # a fault: no bytes to reuse
    ("/nowhere", {}, False),  # unmatched: a body made for this request
])
def test_verbatim_only_when_nothing_was_made_for_this_request(path: str, kw: dict[str, Any],
                                                             verbatim: bool) -> None:
    a = answer_to(engine(*VERBATIM_RULES), path=path, **kw)
    assert (a.verbatim is not None) is verbatim
    if a.verbatim is not None:  # what the wire rebuilds from the plan is exactly this answer
        plan = a.verbatim
        assert (a.status, a.reason, a.body) == (plan.status, plan.reason, plan.body)
        assert a.headers == (*plan.headers, ("X-Request-Id", "rid1"), *plan.validators)
        assert list(a.headers) == plan.verbatim_headers("rid1")  # the order the wire's template uses


def test_an_answer_chaos_replaced_is_not_verbatim() -> None:
    e = engine({"match": {"path": "/limited"}, "rate_limit": {"rate": 0.01, "burst": 1},
                "respond": {"body": "ok"}})
    first, second = answer_to(e, path="/limited"), answer_to(e, path="/limited")
    assert (first.status, first.verbatim is not None) == (200, True)
    assert (second.status, second.verbatim) == (429, None)


def test_the_resolution_is_not_changed_by_the_answer() -> None:
    e = engine({"match": {"path": "/t"}, "respond": {"headers": {"X-Echo": "{{query.v}}"}}})
    request = RequestSnapshot("GET", "/t", query={"v": "a\r\nb"})
    resolution = e.resolve(request, "r")
    a = answer(resolution, request, "r", allowed=e.allowed_methods, timeout_plan=e.timeout_plan,
               max_delay=1.0, last_modified=LOADED, now=NOW)
    assert header(a, "X-Echo") == "a  b"
    assert a.decisions == ("header_sanitized: X-Echo: control characters replaced by spaces (RFC 9110 5.5)",)
    assert resolution.decisions == []


# --- refusals from the head ------------------------------------------------------------------------


@pytest.mark.parametrize(("head", "expected"), [
    (((2, 0), "GET", 5, None), Refusal(505, "Only HTTP/1.0 and HTTP/1.1 are served here.")),
    (((1, 1), "BREW", 5, None), Refusal(501, "The method 'BREW' is not implemented here.")),
    (((1, 1), "get", 5, None), Refusal(501, "The method 'get' is not implemented here.")),
    (((1, 1), "GET", 101, None), Refusal(414, "The request target is longer than 100 octets.")),
    (((1, 1), "POST", 5, 1001), Refusal(413, "The request body is larger than 1000 bytes.")),
    (((1, 0), "POST", 100, 1000), None),
])
def test_refuse_head(head: tuple[Any, ...], expected: Refusal | None) -> None:
    assert refuse_head(*head, max_uri=100, max_body=1000) == expected


def test_refuse_body_by_the_rule() -> None:
    e = engine({"match": {"path": "/u"}, "max_body": 10, "require_length": True,
                "content_types": ["application/json"]},
               {"match": {"path": "/r"}, "max_body": {"size": 10, "retry_after": 1.2}})
    rule, retry = e.rules
    assert refuse_body(None, 50, "text/plain") is None
    assert refuse_body(rule, 11, "application/json") == Refusal(
        413, "The request body is larger than 10 bytes.")
    assert refuse_body(retry, 11, "") == Refusal(
        413, "The request body is larger than 10 bytes.", (("Retry-After", "2"),))
    assert refuse_body(rule, None, "application/json") == Refusal(
        411, "This resource needs a Content-Length.")
    assert refuse_body(rule, 3, "Text/Plain") == Refusal(
        415, "The media type 'text/plain' is not accepted here.", (("Accept", "application/json"),))
    assert refuse_body(rule, 3, "application/json") is None


def test_refuse_expectation() -> None:
    assert refuse_expectation("100-Continue") is None
    assert refuse_expectation("x-fancy") == Refusal(
        417, "The expectation 'x-fancy' cannot be met; only 100-continue is supported.")
