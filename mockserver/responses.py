"""Response plans and sequences: what to send, and which answer the nth request gets.

A Plan is compiled once with the catalogue's defaults folded in, so a static rule costs no
work per request beyond copying its headers. A Responder maps a request ordinal to a plan,
which makes sequences a pure function of a counter kept elsewhere (state.py).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal

from .delays import Delay
from .faults import Fault
from .templating import Context, JsonTemplate, Template

__all__ = ["Plan", "Responder"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send: status line, headers, body and how long to wait first."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    header_templates: tuple[tuple[str, Template], ...] = ()
    body_template: Template | JsonTemplate | None = None
    delay: Delay | None = None
    repeat: int = 1
    source: str = ""  # file:line of the plan, for the journal and error messages
    retry_after_date: float | None = None  # Retry-After as an HTTP-date this far ahead
    break_protocol: bool = False
    etag: str | None = None  # of the static body, for conditional requests and ranges
    last_modified: float = 0.0  # when the scenario was loaded: the resource's Last-Modified
    validators: tuple[tuple[str, str], ...] = ()  # ETag, Last-Modified, Accept-Ranges of a static 200
    fault: Fault | None = None  # a sequence item's own fault ("reset, reset, then 429"): wins over the rule's
    # the wire's memo of this plan's bytes (wire/http1.py), filled on first use; the core never reads it
    encoded: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def templated(self) -> bool:
        return bool(self.header_templates) or self.body_template is not None

    def verbatim_headers(self, request_id: str) -> list[tuple[str, str]]:
        """The headers of an answer that repeats this plan (``Answer.verbatim``), in the order
        ``answer._compose`` gives them: the plan's own, the request id, then the validators."""
        return [*self.headers, ("X-Request-Id", request_id), *self.validators]

    def render(self, ctx: Context) -> tuple[list[tuple[str, str]], bytes]:
        """Headers and body for one request; templates are filled from *ctx*."""
        headers = list(self.headers)
        for name, template in self.header_templates:
            headers.append((name, template.render(ctx)))
        if self.body_template is None:
            return headers, self.body
        if isinstance(self.body_template, JsonTemplate):
            return headers, self.body_template.render(ctx)
        return headers, self.body_template.render(ctx).encode()


@dataclass(frozen=True, slots=True)
class Responder:
    """A sequence of plans, each for ``repeat`` requests, then ``cycle``, ``last`` or a plan."""

    plans: tuple[Plan, ...]
    then: Literal["cycle", "last"] | Plan = "last"
    bounds: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        total, bounds = 0, []
        for plan in self.plans:
            total += plan.repeat
            bounds.append(total)
        object.__setattr__(self, "bounds", tuple(bounds))

    def pick(self, ordinal: int) -> Plan:
        """The plan for the request with this 0-based ordinal."""
        if len(self.plans) == 1 and self.then == "last":
            return self.plans[0]
        total = self.bounds[-1]
        if ordinal >= total:
            if self.then == "last":
                return self.plans[-1]
            if self.then == "cycle":
                ordinal %= total
            else:
                return self.then
        return self.plans[bisect.bisect_right(self.bounds, ordinal)]
