"""One proxied exchange as the recorder sees it: what the proxy hands over, before redaction.

The proxy (``wire/proxy.py``) builds one of these per forwarded request and passes it to the
recorder's callback; the recorder redacts it first, then folds many of them into a scenario.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Captured", "TransportFailure"]

# what went wrong between the proxy and the upstream, when no answer came back
TransportFailure = str  # "refused" | "timeout" | "reset" | "tls" | "truncated"


@dataclass(frozen=True, slots=True)
class Captured:
    """A request forwarded to an upstream, and what came back (or how it failed)."""

    method: str
    path: str  # as sent, without the query
    query: tuple[tuple[str, str], ...]  # in order, a repeated key once per value
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int | None  # None when the upstream gave no answer (see failure)
    reason: str
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes  # as received on the wire (still compressed if Content-Encoding says so)
    latency: float  # seconds from sending the request to the answer's last byte
    started: float  # wall-clock time (time.time()) the request was forwarded
    failure: TransportFailure | None = None
    upstream: str = ""  # the upstream's base URL
