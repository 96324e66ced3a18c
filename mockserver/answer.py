"""The answer to one request, decided without I/O: one frozen value the server carries out.

The engine resolves which rule answers and what chaos decided; this module completes that into
what goes over the wire: the unmatched 404/405/204 with Allow, the deadline 504 versus the
delay, Retry-After dates, 304/412/206/416, and the refusals decided from the request head
(505, 501, 414, 413, 411, 415, 417). Unit tests drive all of it without sockets.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from email.utils import formatdate

from multidict import istr

from . import catalogue
from .conditional import conditional_answer, etag_of
from .engine import Resolution
from .faults import Fault
from .journal import Outcome
from .request import RequestSnapshot
from .responses import Plan
from .rules import Rule
from .templating import Context, TemplateRenderError
from .values import value_class

__all__ = [
    "KNOWN_METHODS",
    "Answer",
    "Refusal",
    "answer",
    "refuse_body",
    "refuse_expectation",
    "refuse_head",
    "unmatched_plan",
]

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
Headers = tuple[tuple[str, str], ...]

# RFC 9110 5.5: a field value has no CTL but HTAB; CR, LF and NUL "MUST" become SP
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request refused from its head alone: the catalogue status, what was wrong, extra headers."""

    status: int
    message: str
    headers: Headers = ()


@value_class
class Answer:
    """Everything the server does for one exchange: sleep, then write (or run the fault), then
    journal. ``status``/``reason``/``headers`` are what a fault is given to send; the ``seen_*``
    properties are what the client meets (a reset sends no status line)."""

    status: int
    reason: str
    headers: Headers
    body: bytes
    outcome: Outcome
    fault: Fault | None = None
    sleep: float = 0.0  # seconds from arrival before the answer goes out (before time scaling)
    timed_out: bool = False  # the request's own deadline came first: this is the 504
    break_protocol: bool = False
    decisions: tuple[str, ...] = ()
    # the plan this answer repeats exactly, its request id apart (its status, reason and body, and
    # Plan.verbatim_headers): the wire may reuse the plan's bytes. None when
    # anything was made for this request (a template, a date, chaos headers, a conditional answer).
    verbatim: Plan | None = None

    @property
    def seen_status(self) -> int | None:
        return None if self.fault is not None and not self.fault.sends_status else self.status

    @property
    def seen_reason(self) -> str:
        return "" if self.fault is not None and not self.fault.sends_status else self.reason

    @property
    def seen_headers(self) -> Headers:
        return () if self.fault is not None and not self.fault.sends_status else self.headers


# --- refusals from the head ------------------------------------------------------------------------


def refuse_head(version: tuple[int, int], method: str, target_length: int, content_length: int | None,
                max_uri: int, max_body: int) -> Refusal | None:
    """Protocol-level refusals that need no rule: 505, 501, 414, 413 (RFC 9110/9112).

    *method* is as the client wrote it: methods are case-sensitive, so ``get`` is unknown (501).
    """
    if version[0] != 1:
        return Refusal(505, "Only HTTP/1.0 and HTTP/1.1 are served here.")
    if method not in KNOWN_METHODS:
        return Refusal(501, f"The method {method!r} is not implemented here.")
    if target_length > max_uri:
        return Refusal(414, f"The request target is longer than {max_uri} octets.")
    if content_length is not None and content_length > max_body:
        return Refusal(413, f"The request body is larger than {max_body} bytes.")
    return None


def refuse_body(rule: Rule | None, content_length: int | None, media_type: str) -> Refusal | None:
    """A rule's body limits (413, 411, 415), decided from the headers before the body is read."""
    if rule is None:
        return None
    if rule.max_body is not None and content_length is not None and content_length > rule.max_body:
        extra: Headers = ()
        if rule.max_body_retry_after is not None:
            extra = (("Retry-After", str(max(0, math.ceil(rule.max_body_retry_after - 1e-9)))),)
        return Refusal(413, f"The request body is larger than {rule.max_body} bytes.", extra)
    if rule.require_length and content_length is None:
        return Refusal(411, "This resource needs a Content-Length.")
    if rule.content_types is not None:
        media = media_type.lower()
        if media not in rule.content_types:
            return Refusal(415, f"The media type {media!r} is not accepted here.",
                           (("Accept", ", ".join(rule.content_types)),))
    return None


def refuse_expectation(expectation: str) -> Refusal | None:
    """417 for any expectation but 100-continue (RFC 9110 10.1.1)."""
    expectation = expectation.lower()
    if expectation == "100-continue":
        return None
    return Refusal(417, f"The expectation {expectation!r} cannot be met; only 100-continue is supported.")


# --- the answer ------------------------------------------------------------------------------------


def unmatched_plan(method: str, path: str, plan: Plan, allowed: Collection[str]) -> tuple[Plan, Outcome]:
    """No rule matched. If rules serve the path with other methods (*allowed*), the faithful
    answer is 204 with Allow to OPTIONS and 405 with Allow to anything else (RFC 9110 9.3.7, 15.5.6)."""
    if not allowed:
        return plan, Outcome.UNMATCHED
    allow = ("Allow", ", ".join(sorted({*allowed, "OPTIONS"})))
    if method == "OPTIONS":
        return Plan(204, catalogue.reason_phrase(204), (allow,)), Outcome.ANSWERED
    if method in allowed:
        return plan, Outcome.UNMATCHED  # the method is served here; something else did not match
    body = json.loads(plan.body)
    body["error_code"] = catalogue.error_code(405)
    body["error_msg"] = f"{method} is not allowed on {path}; allowed: {allow[1]}"
    return Plan(405, catalogue.reason_phrase(405), (("Content-Type", "application/json"), allow),
                json.dumps(body).encode()), Outcome.UNMATCHED


def answer(resolution: Resolution, request: RequestSnapshot, request_id: str, *,
           allowed: Callable[[str], Collection[str]], timeout_plan: Plan, max_delay: float,
           last_modified: float, now: float, clock: Callable[[], float] = lambda: 0.0) -> Answer:
    """The complete answer to *request*: the resolution's plan (or the unmatched answer, or the
    deadline's 504), rendered, with the catalogue's request-time parts.

    *allowed* gives the methods rules serve on a path; *now* is when the answer will go out (for
    Retry-After dates); *last_modified* is the resources' default Last-Modified; *clock* reads the
    server clock that templates see as ``now`` (the test clock applies), only when one renders.
    """
    plan, fault = resolution.plan, resolution.fault
    outcome = Outcome.ANSWERED if resolution.rule is not None else Outcome.UNMATCHED
    if resolution.rule is None and fault is None:
        plan, outcome = unmatched_plan(request.method, request.path, plan, allowed(request.path))
    delay, sleep, timed_out = min(resolution.delay, max_delay), 0.0, False
    if delay > 0:
        deadline = resolution.deadline
        if deadline is not None and delay > deadline:
            sleep, timed_out = deadline, True
            plan, fault, outcome = timeout_plan, None, Outcome.TIMED_OUT
        else:
            sleep = delay
    notes: list[str] = []
    try:
        status, reason, headers, body, verbatim = _compose(
            request, resolution, plan, fault, outcome, request_id, allowed, last_modified, now, clock, notes)
    except TemplateRenderError as exc:  # the template failed on this request: say so, plainly
        verbatim = False
        notes.append(f"template failed: {exc}")
        status, reason, fault, outcome = 500, catalogue.reason_phrase(500), None, Outcome.ERROR
        headers = [("Content-Type", "application/json"), ("X-Request-Id", request_id)]
        body = catalogue.error_body(500, f"template failed at {plan.source}: {exc}")
    if fault is not None:
        outcome = Outcome.FAULT
    if resolution.failed:  # a key or state template failed before any answer was chosen
        outcome = Outcome.ERROR
    if plan.break_protocol and fault is None:
        notes.append("break_protocol: sent as written, then closed")
    decisions = tuple(resolution.decisions) + tuple(notes) if notes else tuple(resolution.decisions)
    # a plan chaos put in (made for this request) is not worth remembering the bytes of
    same = verbatim and fault is None and not plan.break_protocol and not resolution.failed and (
        timed_out or (resolution.rule is not None and not resolution.overridden))
    return Answer(status, reason, tuple(headers), body, outcome, fault, sleep, timed_out,
                  plan.break_protocol, decisions, plan if same else None)


# case-folded once (a multidict folds a plain str on every lookup): this runs for every 2xx answer
_IF_NONE_MATCH, _IF_MODIFIED_SINCE, _RANGE, _IF_MATCH, _IF_UNMODIFIED_SINCE = (
    istr("If-None-Match"), istr("If-Modified-Since"), istr("Range"), istr("If-Match"),
    istr("If-Unmodified-Since"))


def _conditional(headers: Mapping[str, str]) -> bool:
    """Whether the request asks anything of the validators (RFC 9110 13.1, and Range); unrolled,
    because this runs for every 2xx answer."""
    return (_IF_NONE_MATCH in headers or _IF_MODIFIED_SINCE in headers or _RANGE in headers
            or _IF_MATCH in headers or _IF_UNMODIFIED_SINCE in headers)


def _clean(headers: list[tuple[str, str]], notes: list[str]) -> None:
    """Replace control characters in header values made at request time (templates echo the
    request: ``?v=%0D%0A`` must not split the response) by spaces, and say so in the journal."""
    for index, (name, value) in enumerate(headers):
        if _CONTROL.search(value):
            headers[index] = (name, _CONTROL.sub(" ", value))
            notes.append(f"header_sanitized: {name}: control characters replaced by spaces "
                         "(RFC 9110 5.5)")


def _compose(
    request: RequestSnapshot, resolution: Resolution, plan: Plan, fault: Fault | None, outcome: Outcome,
    request_id: str, allowed: Callable[[str], Collection[str]], last_modified: float, now: float,
    clock: Callable[[], float], notes: list[str],
) -> tuple[int, str, list[tuple[str, str]], bytes, bool]:
    """Status, reason, headers and body: the plan rendered, chaos headers merged, and the
    request-time parts of the catalogue (Retry-After dates, Allow, ETag, 304/412/206/416); and
    whether they are the plan's own, the request id apart (Answer.verbatim)."""
    templated = plan.templated
    if templated:
        headers, payload = plan.render(Context(
            request, resolution.params, request_id, now=clock(), seed=resolution.seed,
            ordinal=resolution.ordinal, key=resolution.counter or "", item=resolution.item,
            collection=resolution.collection))
    else:
        headers, payload = list(plan.headers), plan.body
    if resolution.extra_headers:
        replaced = {name.lower() for name, _ in resolution.extra_headers}
        headers = [h for h in headers if h[0].lower() not in replaced] + resolution.extra_headers
    if templated or resolution.extra_headers:
        _clean(headers, notes)
    verbatim = not templated and not resolution.extra_headers and plan.retry_after_date is None
    if plan.retry_after_date is not None:
        headers.append(("Retry-After", formatdate(now + plan.retry_after_date, usegmt=True)))
    headers.append(("X-Request-Id", request_id))
    status, reason = plan.status, plan.reason
    if status == 405 and not any(h[0].lower() == "allow" for h in headers):
        # RFC 9110 15.5.6: MUST list what the resource allows, computed from the rules
        headers.append(("Allow", ", ".join(sorted({*allowed(request.path), "OPTIONS"}))))
        verbatim = False
    if 200 <= status < 300 and fault is None and not plan.break_protocol and outcome != Outcome.UNMATCHED:
        request_headers = request.headers
        if plan.validators and not _conditional(request_headers):
            headers.extend(plan.validators)  # the common case: a static 200, nothing to evaluate
            return status, reason, headers, payload, verbatim
        verbatim = False
        (status, headers, payload), note = conditional_answer(
            request.method, request_headers, status, headers, payload,
            plan.etag or etag_of(payload), plan.last_modified or last_modified)
        if note is not None:
            notes.append(note)
            reason = catalogue.reason_phrase(status)
            if status >= 400:
                payload = catalogue.error_body(status, note)
                headers = [h for h in headers if h[0].lower() != "content-type"]
                headers.append(("Content-Type", "application/json"))
    return status, reason, headers, payload, verbatim
