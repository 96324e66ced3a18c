"""The journal: a bounded record of every exchange, for tests, the control API and debugging.

Recording is an append to a deque under a lock, cheap enough for the hot path; everything that
costs (filtering, rendering, waking waiters) happens when someone reads or waits.

Queries select entries by rule, method, path, status, session or outcome. The same queries run
on the in-process journal and on a remote server's journal (remote.py), because both are a
``JournalView``: something that can list its entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypedDict

from multidict import CIMultiDict, CIMultiDictProxy

from .values import value_class

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "Entry",
    "Filters",
    "FiltersBesidesRule",
    "FiltersBesidesStatus",
    "Journal",
    "JournalView",
    "Outcome",
    "Query",
    "RequestFilters",
    "WaitTimeout",
    "WireHeaders",
    "finished",
    "format_entries",
    "json_safe",
]


class WireHeaders(Mapping[str, str]):
    """A request's headers as the parser left them (pairs of bytes), decoded on first read.

    aiohttp parses every header twice, into these pairs and into a case-insensitive multidict;
    the journal keeps the cheaper one, and entries whose headers repeat the previous request's
    (a client in a loop) share one, which makes a 10,000-entry journal several MB smaller. Reads
    behave like the multidict: any case, ``getall`` for repeated names.
    """

    __slots__ = ("_raw", "_view")

    def __init__(self, raw: Sequence[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._view: CIMultiDictProxy[str] | None = None

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> WireHeaders:
        """Headers from decoded pairs (a remote journal's), encoded back as the parser would hold them."""
        return cls([(name.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape"))
                    for name, value in pairs])

    def same(self, raw: Sequence[tuple[bytes, bytes]]) -> bool:
        """Whether *raw* are these very headers: a client repeating itself shares one record."""
        return self._raw == raw

    def _headers(self) -> CIMultiDictProxy[str]:
        if self._view is None:  # decoded as aiohttp decodes them
            self._view = CIMultiDictProxy(CIMultiDict(
                (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
                for name, value in self._raw))
        return self._view

    def __getitem__(self, name: str) -> str:
        return self._headers()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def getall(self, name: str, default: list[str] | None = None) -> list[str]:
        """Every value of a repeated header, in order (KeyError without a default, as multidict)."""
        if default is None:
            return self._headers().getall(name)
        return self._headers().getall(name, default)

    def pairs(self) -> list[tuple[str, str]]:
        """Every (name, value) in the order received, repeated names included."""
        return list(self._headers().items())

    def __repr__(self) -> str:
        return f"<WireHeaders {list(self._headers().items())!r}>"


class Outcome(enum.StrEnum):
    """How an exchange ended. A ``str``, so JSON and ``entry.outcome == "answered"`` keep working;
    this is the one list (docs/journal.md is checked against it)."""

    ANSWERED = "answered"
    TIMED_OUT = "timed_out"
    UNMATCHED = "unmatched"
    REFUSED = "refused"
    FAULT = "fault"
    CLIENT_GONE = "client_gone"
    ERROR = "error"
    PENDING = "pending"
    PROXIED = "proxied"
    UPSTREAM_FAILED = "upstream_failed"
    TLS_FAULT = "tls_fault"

    def describe(self) -> str:
        """What the outcome means, one line (the comment beside it)."""
        return _OUTCOME_MEANINGS[self]


_OUTCOME_MEANINGS = {
    Outcome.ANSWERED: "the rule's answer (or the 204 to OPTIONS on a served path) went out",
    Outcome.TIMED_OUT: "the request's own Timeout came before the delay: 504",
    Outcome.UNMATCHED: "no rule matched: 404, or 405 with Allow",
    Outcome.REFUSED: "refused from the request head before any rule (505, 501, 414, 413, 411, 415, "
                     "417) or a body that stalled (408)",
    Outcome.FAULT: "a fault was done to the connection (reset, truncate, drip, ...)",
    Outcome.CLIENT_GONE: "the client left before its answer was written",
    Outcome.PROXIED: "forwarded to an upstream, whose answer went out (docs/proxy.md)",
    Outcome.UPSTREAM_FAILED: "the upstream failed (refused, reset, TLS, timeout): 502 or 504, the "
                             "fault names which (docs/proxy.md)",
    Outcome.TLS_FAULT: "a TLS fault ended the handshake; a connection-level entry with no request "
                       "(layer tls, the SNI name, the fault; docs/tls.md)",
    Outcome.ERROR: "mockserver failed (500); strict mode in the pytest plugin fails the test",
    Outcome.PENDING: "in flight: a delayed answer not sent yet; the finished entry replaces it",
}


@value_class
class Entry:
    """One exchange: the request, the rule and answer, and when things happened.

    A value (frozen for mypy, see values.py): once a reader can see it, it never changes. A
    delayed exchange is journaled as a ``pending`` snapshot that the finished entry replaces
    (``Journal.begin``/``finish``).
    """

    seq: int
    request_id: str
    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes
    client: str
    session: str
    rule: str | None
    status: int | None  # None when the client saw no status line (a reset, close, hang, garbage...)
    reason: str
    outcome: Outcome
    delay: float = 0.0
    deadline: float | None = None
    arrived: float = 0.0
    first_byte: float | None = None
    ended: float | None = None
    decisions: tuple[str, ...] = ()
    near_misses: tuple[Any, ...] = ()
    # the answer's headers as sent, in order; filled by the server (Retry-After checks read it)
    response_headers: tuple[tuple[str, str], ...] = ()
    # the fault done to the connection ("reset", "truncate", ...), None for a plain answer
    fault: str | None = None
    # the kinds of chaos that changed this exchange (metrics count these, not every decision)
    injected: tuple[str, ...] = ()
    # "tls" for a connection-level entry (a TLS fault before any request), else "http"
    layer: str = "http"
    sni: str | None = None  # the server name the client asked for in its TLS ClientHello

    def settled(self, outcome: Outcome, first_byte: float | None, ended: float | None) -> Entry:
        """This snapshot as its exchange ended. The same as ``finished(self, outcome=...,
        first_byte=..., ended=...)``, built positionally: every answer pays for it, and a keyword
        call of all these fields costs three times as much (docs/performance.md)."""
        return Entry(self.seq, self.request_id, self.method, self.path, self.query_string, self.headers,
                     self.body, self.client, self.session, self.rule, self.status, self.reason, outcome,
                     self.delay, self.deadline, self.arrived, first_byte, ended, self.decisions,
                     self.near_misses, self.response_headers, self.fault, self.injected, self.layer,
                     self.sni)

    def header_pairs(self) -> list[tuple[str, str]]:
        """The request's headers as (name, value) pairs in order, a repeated name once per value."""
        headers = self.headers
        if isinstance(headers, WireHeaders):
            return headers.pairs()
        if isinstance(headers, CIMultiDictProxy | CIMultiDict):
            return list(headers.items())
        return [(str(k), str(v)) for k, v in headers.items()]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (body as text): headers as pairs, and as an object for older readers."""
        pairs = self.header_pairs()
        return {
            "seq": self.seq, "request_id": self.request_id, "method": self.method, "path": self.path,
            "query": self.query_string, "headers": _joined(pairs), "header_pairs": [list(p) for p in pairs],
            "body": self.body.decode("utf-8", "replace"), "client": self.client, "session": self.session,
            "rule": self.rule, "status": self.status, "reason": self.reason, "outcome": self.outcome,
            "fault": self.fault,
            "delay": self.delay, "deadline": self.deadline, "arrived": self.arrived,
            "first_byte": self.first_byte, "ended": self.ended, "decisions": list(self.decisions),
            "near_misses": [_near_miss_dict(m) for m in self.near_misses],
            "response_headers": [list(pair) for pair in self.response_headers],
            "layer": self.layer, "sni": self.sni,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entry:
        """The inverse of as_dict, for journals read over the control API (near misses stay dicts)."""
        return cls(
            seq=int(data.get("seq", 0)), request_id=str(data.get("request_id", "")),
            method=str(data.get("method", "")), path=str(data.get("path", "")),
            query_string=str(data.get("query", "")), headers=_headers_of(data),
            body=str(data.get("body", "")).encode(), client=str(data.get("client", "")),
            session=str(data.get("session", "")), rule=data.get("rule"), status=_status(data.get("status")),
            reason=str(data.get("reason") or ""), outcome=_outcome(data.get("outcome")),
            fault=str(data["fault"]) if data.get("fault") else None,
            delay=float(data.get("delay") or 0.0), deadline=data.get("deadline"),
            arrived=float(data.get("arrived") or 0.0), first_byte=data.get("first_byte"),
            ended=data.get("ended"), decisions=tuple(data.get("decisions") or ()),
            near_misses=tuple(data.get("near_misses") or ()),
            response_headers=tuple((str(k), str(v)) for k, v in data.get("response_headers") or ()),
            layer=str(data.get("layer") or "http"), sni=data.get("sni"))

    def response_header(self, name: str) -> str | None:
        """The first answer header called *name* (any case), or None."""
        lower = name.lower()
        return next((v for k, v in self.response_headers if k.lower() == lower), None)

    @property
    def sent(self) -> float:
        """When the answer started to leave (arrival if it never did): retry waits count from here."""
        return self.first_byte if self.first_byte is not None else self.ended or self.arrived

    def describe(self, origin: float | None = None) -> str:
        """One line for failure messages: when, what was asked, what was answered and by which rule."""
        when = f" +{self.arrived - origin:.3f}s" if origin is not None else ""
        if self.layer == "tls":  # a connection-level entry: no request was read
            happened = "; ".join(self.decisions) or f"tls {self.fault}"
            return f"#{self.seq}{when} TLS handshake (SNI {self.sni or 'none'}) -> {happened}"
        target = self.path + (f"?{self.query_string}" if self.query_string else "")
        if self.status is not None:
            answer = f"{self.status} {self.reason}".strip()
        else:
            answer = "no status" if self.fault else "no answer"
        by = f"rule {self.rule}" if self.rule else "no rule"
        extra = "" if self.outcome == "answered" else f", {self.outcome}"
        if self.fault:
            extra += f" {self.fault}" if self.outcome == "fault" else f" (fault {self.fault})"
        if self.decisions and self.outcome == "error":
            extra += f": {'; '.join(self.decisions)}"
        return f"#{self.seq}{when} {self.method} {target} -> {answer} ({by}{extra})"

    def near_miss_lines(self) -> list[str]:
        """The rules that almost matched, one line each, with what did not match."""
        lines = []
        for miss in self.near_misses:
            found = _near_miss_dict(miss)
            source = f" ({found['source']})" if found.get("source") else ""
            lines.append(f"near miss {found.get('rule')}{source}: {'; '.join(found.get('mismatches', []))}")
        return lines


# numbering an entry as the journal takes it: the slot's own setter (values.py: Entry is frozen
# for the type checker only), cheaper than object.__setattr__ on every request
_set_seq: Callable[[Entry, int], None] = Entry.__dict__["seq"].__set__


def _outcome(value: Any) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:
        valid = ", ".join(o.value for o in Outcome)
        raise ValueError(f"journal entry outcome {value!r} is not one of {valid}") from None


def _status(value: Any) -> int | None:
    # a remote journal says null for a fault that sent no status line
    return None if value is None else int(value)


def _joined(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Headers as one object: a name in its first spelling, repeated values joined by ", " (RFC 9110 5.3)."""
    out: dict[str, str] = {}
    spelling: dict[str, str] = {}
    for name, value in pairs:
        key = spelling.setdefault(name.lower(), name)
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _headers_of(data: Mapping[str, Any]) -> WireHeaders:
    """A remote entry's headers, read like a local one's: from its pairs, or an older server's object."""
    pairs = data.get("header_pairs")
    if pairs is None:
        pairs = list((data.get("headers") or {}).items())
    return WireHeaders.of((str(name), str(value)) for name, value in pairs)


def _near_miss_dict(miss: Any) -> dict[str, Any]:
    # in-process entries carry engine.NearMiss objects, remote ones plain dicts
    return dict(miss) if isinstance(miss, Mapping) else dict(miss.as_dict())


def format_entries(entries: Sequence[Entry], *, indent: str = "  ", origin: float | None = None,
                   near_misses: bool = True) -> str:
    """Entries one per line, times relative to *origin* (default: the first arrival)."""
    if not entries:
        return f"{indent}(none)"
    start = origin if origin is not None else min(e.arrived for e in entries)
    lines = []
    for entry in entries:
        lines.append(indent + entry.describe(start))
        if near_misses:
            lines.extend(f"{indent}    {line}" for line in entry.near_miss_lines())
    return "\n".join(lines)


# --- queries -------------------------------------------------------------------------------------


class RequestFilters(TypedDict, total=False):
    """Filters on the request and how it ended (helpers that take rule and status by name use these)."""

    method: str
    path: str | re.Pattern[str]
    session: str
    outcome: str | Collection[str]
    fault: str | Collection[str]


class FiltersBesidesRule(RequestFilters, total=False):
    status: int | Collection[int]


class FiltersBesidesStatus(RequestFilters, total=False):
    rule: str


class Filters(RequestFilters, total=False):
    """What a query may select on; every filter given must hold."""

    rule: str
    status: int | Collection[int]


FILTER_NAMES = ("rule", "method", "path", "status", "session", "outcome", "fault")


@dataclass(frozen=True, slots=True)
class Query:
    """A conjunction of filters over entries.

    *rule* is a rule id (``scenario/rule``) or a bare rule name; *path* is exact, or a compiled
    regex that must match it whole; *status*, *outcome* and *fault* (a fault's name, such as
    ``reset``) take one value or several. A fault that sent no status line has status None, so
    ``status=200`` never counts a reset.
    """

    rule: str | None = None
    method: str | None = None
    path: str | re.Pattern[str] | None = None
    status: int | frozenset[int] | None = None
    session: str | None = None
    outcome: str | frozenset[str] | None = None
    fault: str | frozenset[str] | None = None

    @classmethod
    def of(cls, filters: Mapping[str, Any]) -> Query:
        unknown = sorted(set(filters) - set(FILTER_NAMES))
        if unknown:
            valid = ", ".join(sorted(FILTER_NAMES))
            raise TypeError(f"unknown journal filter {unknown[0]!r}; valid filters: {valid}")
        status = filters.get("status")
        outcome = filters.get("outcome")
        fault = filters.get("fault")
        return cls(
            rule=filters.get("rule"),
            method=filters["method"].upper() if filters.get("method") else None,
            path=filters.get("path"),
            status=status if status is None or isinstance(status, int) else frozenset(status),
            session=filters.get("session"),
            outcome=outcome if outcome is None or isinstance(outcome, str) else frozenset(outcome),
            fault=fault if fault is None or isinstance(fault, str) else frozenset(fault))

    def matches(self, entry: Entry) -> bool:
        if self.rule is not None and entry.rule != self.rule and (
                entry.rule is None or entry.rule.partition("/")[2] != self.rule):
            return False
        if self.method is not None and entry.method.upper() != self.method:
            return False
        if self.path is not None and (entry.path != self.path if isinstance(self.path, str)
                                      else self.path.fullmatch(entry.path) is None):
            return False
        if self.status is not None and (entry.status != self.status if isinstance(self.status, int)
                                        else entry.status not in self.status):
            return False
        if self.session is not None and entry.session != self.session:
            return False
        if self.fault is not None and (entry.fault != self.fault if isinstance(self.fault, str)
                                       else entry.fault not in self.fault):
            return False
        return self.outcome is None or (entry.outcome == self.outcome if isinstance(self.outcome, str)
                                        else entry.outcome in self.outcome)

    def describe(self) -> str:
        """``rule='x', status=503`` (or ``any request``), for messages."""
        parts = []
        for name in FILTER_NAMES:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, re.Pattern):
                value = value.pattern
            elif isinstance(value, frozenset):
                value = sorted(value)
            parts.append(f"{name}={value!r}")
        return ", ".join(parts) or "any request"


class WaitTimeout(TimeoutError):
    """Fewer matching requests arrived than a test waited for; the message lists what did arrive."""


class JournalView:
    """Queries over a list of entries; subclasses say where the entries come from."""

    def entries(self) -> list[Entry]:
        """Every entry, oldest first."""
        raise NotImplementedError

    def select(self, **filters: Unpack[Filters]) -> list[Entry]:
        """The entries that match every filter, in order of arrival."""
        query = Query.of(filters)
        return sorted((e for e in self.entries() if query.matches(e)), key=_arrival)

    def count(self, **filters: Unpack[Filters]) -> int:
        return len(self.select(**filters))

    def intervals(self, **filters: Unpack[Filters]) -> list[float]:
        """Seconds between consecutive arrivals of matching requests (n entries give n - 1)."""
        arrivals = [e.arrived for e in self.select(**filters)]
        return [b - a for a, b in itertools.pairwise(arrivals)]

    def wait_for(self, count: int = 1, *, timeout: float = 5.0, **filters: Unpack[Filters]) -> list[Entry]:
        """Block until *count* matching requests are journaled; return them, or raise WaitTimeout.

        The server journals a request when its answer starts, so a delayed answer counts once
        its delay is over.
        """
        __tracebackhide__ = True
        query = Query.of(filters)
        deadline = time.monotonic() + timeout
        changed = threading.Event()
        unsubscribe = self._subscribe(changed.set)
        try:
            while True:
                changed.clear()
                found = [e for e in self.entries() if query.matches(e)]
                if len(found) >= count:
                    return sorted(found, key=_arrival)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(self._timeout_message(count, timeout, query))
                changed.wait(remaining if unsubscribe is not None else min(remaining, self.poll_interval))
        finally:
            if unsubscribe is not None:
                unsubscribe()

    async def wait_for_async(self, count: int = 1, *, timeout: float = 5.0,
                             **filters: Unpack[Filters]) -> list[Entry]:
        """Like wait_for, without blocking the event loop (the server may run on this very loop)."""
        __tracebackhide__ = True
        query = Query.of(filters)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        changed = asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the waiting loop is gone; nobody to wake
                loop.call_soon_threadsafe(changed.set)

        unsubscribe = self._subscribe(wake)
        try:
            while True:
                changed.clear()
                found = [e for e in await self._entries_async() if query.matches(e)]
                if len(found) >= count:
                    return sorted(found, key=_arrival)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise WaitTimeout(self._timeout_message(count, timeout, query))
                if unsubscribe is None:
                    remaining = min(remaining, self.poll_interval)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
        finally:
            if unsubscribe is not None:
                unsubscribe()

    #: seconds between polls for views that cannot be notified (remote journals)
    poll_interval = 0.02

    def _subscribe(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Call *callback* after each new entry; returns how to stop, or None if only polling works."""
        return None

    async def _entries_async(self) -> list[Entry]:
        return self.entries()

    def _timeout_message(self, count: int, timeout: float, query: Query) -> str:
        entries = sorted(self.entries(), key=_arrival)
        matching = [e for e in entries if query.matches(e)]
        others = [e for e in entries if not query.matches(e)]
        origin = entries[0].arrived if entries else None
        return (f"waited {timeout:g}s for {count} request(s) matching {query.describe()}; "
                f"{len(matching)} arrived:\n{format_entries(matching, origin=origin)}\n"
                f"other requests:\n{format_entries(others, origin=origin)}")


def _arrival(entry: Entry) -> tuple[float, int]:
    return entry.arrived, entry.seq


class Journal(JournalView):
    """The last *maxlen* entries, oldest first."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.maxlen = maxlen
        self._entries: deque[Entry] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._seq = 0
        self._listeners: list[Callable[[], None]] = []
        #: how many times it was cleared: a reader that holds entries (a dashboard page) starts over
        self.clears = 0
        # while recording (record/live.py): every entry passes through this before it is kept,
        # so secrets never reach a reader of the journal
        self.scrub: Callable[[Entry], Entry] | None = None

    def record(self, entry: Entry) -> Entry:
        """Publish a finished entry; one with seq 0 is numbered here, before anyone can see it
        (one lock per request). Returns the entry as published."""
        if self.scrub is not None:
            entry = self.scrub(entry)
        with self._lock:
            if not entry.seq:
                self._seq += 1
                _set_seq(entry, self._seq)  # not yet visible to any reader
            self._entries.append(entry)
        if self._listeners:  # only tests that wait pay for waking
            self._wake()
        return entry

    def begin(self, snapshot: Entry) -> Entry:
        """Publish an in-flight snapshot (waiters count arrivals); ``finish`` replaces it."""
        return self.record(snapshot)

    def finish(self, snapshot: Entry, entry: Entry) -> Entry:
        """Replace the published *snapshot* by the finished *entry*, or by a newer snapshot of an
        exchange still going (same number). Readers who hold the snapshot keep it unchanged. If
        the snapshot is gone (cleared, or pushed out of a full journal), the entry is not
        journaled either. Returns the entry."""
        if self.scrub is not None:
            entry = self.scrub(entry)
        with self._lock:
            _set_seq(entry, snapshot.seq)  # not yet visible to any reader
            entries = self._entries
            # numbers are consecutive here, so the snapshot's place follows from its number: a
            # search would cost one step per exchange in flight (1,000 held answers: 1,000 steps)
            at = len(entries) - 1 - (entries[-1].seq - snapshot.seq) if entries else -1
            if not (0 <= at < len(entries) and entries[at] is snapshot):
                at = next((len(entries) - 1 - back for back, held in enumerate(reversed(entries))
                           if held is snapshot), -1)  # numbers with gaps (a shared journal's clear)
                if at < 0:
                    return entry
            entries[at] = entry
        if self._listeners:
            self._wake()
        return entry

    def _wake(self) -> None:
        if self._listeners:  # only tests that wait pay for waking
            for listener in tuple(self._listeners):
                listener()

    def clear(self) -> None:
        """Forget every entry; numbering starts at 1 again, so each test's messages read #1, #2, ..."""
        with self._lock:
            self._entries.clear()
            self._seq = 0
            self.clears += 1
        self._wake()

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def _subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.remove(callback)

        return unsubscribe

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())


def finished(snapshot: Entry, **changes: Any) -> Entry:
    """A copy of *snapshot* with *changes*: the finished entry that replaces it."""
    return replace(snapshot, **changes)


def json_safe(value: Any) -> Any:
    """*value* with every float that JSON cannot hold (inf, nan: an unbounded delay) as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
